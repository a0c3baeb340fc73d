#!/usr/bin/env node
// Checks that the native addons berth uses load in this Node: ssh2's crypto binding (the SSH
// gateway's ciphers; ssh2 falls back to pure JS without a word) and keytar (the OS keychain for
// the bot token; optional, berth falls back to a file). Exits 1 when ssh2's binding is missing,
// or when keytar is missing and --keytar is given. Usage: node scripts/check-native.js [--keytar]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const want = { keytar: process.argv.includes('--keytar') };
const fix =
  "Rebuild with an npm whose node-gyp builds for this Node (not Debian's npm with another Node): " +
  "`. scripts/node-env.sh && npm rebuild ssh2 keytar --foreground-scripts` shows the compiler's errors " +
  '(keytar needs libsecret-1-dev, both need g++ and make).';
let failed = false;

try {
  const crypto = require('ssh2/lib/protocol/crypto.js');
  if (crypto.bindingAvailable) {
    console.log(`check-native: ssh2 crypto: native binding (Node ${process.version})`);
  } else {
    // Load it directly to say why.
    let why = 'not built';
    try {
      require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    } catch (err) {
      why = String(err.message).split('\n')[0];
    }
    console.error(`check-native: ssh2 crypto: pure JS fallback — the native binding did not load (${why}). ${fix}`);
    failed = true;
  }
} catch (err) {
  console.error(`check-native: ssh2 is not installed (${err.message.split('\n')[0]}); run npm ci`);
  failed = true;
}

try {
  require('keytar');
  console.log('check-native: keytar: loads');
} catch (err) {
  const line = `check-native: keytar: does not load (${String(err.message).split('\n')[0]}); the bot token goes to secrets.json`;
  if (want.keytar) {
    console.error(`${line}. ${fix}`);
    failed = true;
  } else {
    console.log(line);
  }
}
process.exit(failed ? 1 : 0);
