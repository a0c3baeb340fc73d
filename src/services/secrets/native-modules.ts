import { createRequire } from 'node:module';
import { keychainStatus } from './keychain.js';

/** The native addons berth uses when they load, and what it falls back to when they do not. */
export interface NativeModules {
  /** keytar with a Secret Service answering: the bot token goes to the OS keychain, else to secrets.json. */
  keychain: { inUse: boolean; detail: string };
  /** ssh2's crypto binding (the gateway's ciphers in C); without it ssh2 quietly uses pure JS. */
  sshCrypto: { native: boolean; detail: string };
}

function sshCrypto(): NativeModules['sshCrypto'] {
  const require = createRequire(import.meta.url);
  try {
    const crypto = require('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean };
    if (crypto.bindingAvailable) return { native: true, detail: `native binding (Node ${process.version})` };
  } catch (err) {
    return { native: false, detail: `ssh2 does not load (${(err as Error).message.split('\n')[0]})` };
  }
  let why = 'not built at install';
  try {
    require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
  } catch (err) {
    why = (err as Error).message.split('\n')[0] ?? why;
  }
  return { native: false, detail: `pure JS fallback (${why})` };
}

export async function nativeModules(): Promise<NativeModules> {
  return { keychain: await keychainStatus(), sshCrypto: sshCrypto() };
}
