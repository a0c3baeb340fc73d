import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fingerprint } from '../../domain/ssh-keys.js';
import { BerthError } from '../../errors.js';

export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

export interface HostKey {
  /** OpenSSH private key text: never logged, never shown. */
  privateKey: string;
  /** `SHA256:…` as ssh-keygen -l and the client's first-connection prompt show it. */
  fingerprint: string;
  path: string;
}

type Ssh2 = typeof import('ssh2');
const ssh2 = (): Ssh2 => createRequire(import.meta.url)('ssh2') as Ssh2;

/** The last key text seen and its fingerprint: /status and /ssh ask on every message. */
let lastFingerprint: { text: string; fingerprint: string } | null = null;

function fingerprintOf(privateKey: string, path: string): string {
  if (lastFingerprint?.text === privateKey) return lastFingerprint.fingerprint;
  const parsed = ssh2().utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || key.type !== 'ssh-ed25519') {
    throw new BerthError(
      'HOST_KEY_INVALID',
      `The SSH host key ${path} is not an ed25519 private key.`,
      'Move it away; the daemon makes a new one at its next start (clients will warn that the key changed).',
    );
  }
  lastFingerprint = { text: privateKey, fingerprint: fingerprint(key.getPublicSSH()) };
  return lastFingerprint.fingerprint;
}

/** The gateway's host key: made once (ed25519, mode 0600) in the berth home and reused. */
export async function loadOrCreateHostKey(home: string): Promise<HostKey> {
  const path = join(home, HOST_KEY_FILE);
  const existing = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (existing !== null) {
    // A private key others could read may be known to them: refused, not silently tightened.
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) {
      throw new BerthError(
        'HOST_KEY_MODE',
        `The SSH host key ${path} has mode ${mode.toString(8).padStart(4, '0')}: others can read or change it.`,
        `Run chmod 600 ${path} if nobody else could have copied it; otherwise move it away (a new key is made at the next start; clients will warn that the key changed).`,
      );
    }
    return { privateKey: existing, fingerprint: fingerprintOf(existing, path), path };
  }
  const pair = ssh2().utils.generateKeyPairSync('ed25519', { comment: 'berth-gateway' });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, pair.private, { mode: 0o600, flag: 'wx' });
  await rename(temp, path);
  return { privateKey: pair.private, fingerprint: fingerprintOf(pair.private, path), path };
}

/** The host key's fingerprint, or null while the gateway has never run. */
export async function hostKeyFingerprint(home: string): Promise<string | null> {
  const path = join(home, HOST_KEY_FILE);
  const text = await readFile(path, 'utf8').catch(() => null);
  return text === null ? null : fingerprintOf(text, path);
}
