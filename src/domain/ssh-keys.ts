import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { invalidInput } from '../errors.js';
import { printable } from '../values/names.js';

export const ALLOWED_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];
export const MIN_RSA_BITS = 2048;

export interface PublicKey {
  type: string;
  data: string;
  comment: string;
  fingerprint: string;
  bits: number;
}

const LINE = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/;

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Parses one or more public keys in authorized_keys form (blank lines and # comments skipped). */
export function parsePublicKeys(text: string): PublicKey[] {
  if (text.length > 64 * 1024) {
    throw invalidInput('INVALID_SSH_KEY', 'That is far too much text for SSH public keys.', 'Give the contents of a .pub file.');
  }
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) {
    throw invalidInput(
      'INVALID_SSH_KEY',
      'No SSH public key was given.',
      'Pass the key (e.g. the contents of ~/.ssh/id_ed25519.pub) or --file.',
    );
  }
  return lines.map(parsePublicKey);
}

export function parsePublicKey(line: string): PublicKey {
  if (line.includes('PRIVATE KEY')) {
    throw invalidInput(
      'PRIVATE_KEY_GIVEN',
      'That is a PRIVATE key. Never share it.',
      'Give the public half instead: the .pub file next to it.',
    );
  }
  const match = LINE.exec(line);
  const type = match?.[1] ?? '';
  if (!match || !type.match(/^(ssh-|ecdsa-|sk-)/)) {
    throw invalidInput(
      'INVALID_SSH_KEY',
      `"${printable(line, 30)}" is not an SSH public key line.`,
      'A key looks like "ssh-ed25519 AAAAC3Nz… you@laptop" (authorized_keys options are not accepted).',
    );
  }
  if (!ALLOWED_KEY_TYPES.includes(type)) {
    throw invalidInput(
      'UNSUPPORTED_SSH_KEY',
      `SSH keys of type ${printable(type)} are not accepted.`,
      'Use ed25519 (ssh-keygen -t ed25519), ECDSA, or RSA of 2048 bits or more.',
    );
  }
  const parsed = ssh2Utils().parseKey(line);
  if (parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey()) {
    throw invalidInput(
      'INVALID_SSH_KEY',
      `The ${type} key is malformed: it does not parse.`,
      'Copy the whole line from the .pub file again.',
    );
  }
  const blob = parsed.getPublicSSH();
  const bits = keyBits(type, blob);
  if (type === 'ssh-rsa' && bits < MIN_RSA_BITS) {
    throw invalidInput(
      'WEAK_SSH_KEY',
      `This RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are needed.`,
      'Make a new key: ssh-keygen -t ed25519',
    );
  }
  const comment = (match[3] ?? '').trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (comment.length > 200 || /[\u0000-\u001f\u007f]/.test(comment)) {
    throw invalidInput(
      'INVALID_SSH_KEY',
      'The key comment is too long or holds control characters.',
      'Shorten the comment after the key (at most 200 characters).',
    );
  }
  return { type, data: blob.toString('base64'), comment, fingerprint: fingerprint(blob), bits };
}

function keyBits(type: string, blob: Buffer): number {
  if (type === 'ssh-ed25519') return 256;
  if (type.startsWith('ecdsa-sha2-nistp')) return Number(type.slice('ecdsa-sha2-nistp'.length));
  // ssh-rsa blob: string type, mpint e, mpint n
  let offset = 0;
  const field = (): Buffer => {
    const len = blob.readUInt32BE(offset);
    const value = blob.subarray(offset + 4, offset + 4 + len);
    offset += 4 + len;
    return value;
  };
  field();
  field();
  const n = field();
  let start = 0;
  while (start < n.length && n[start] === 0) start++;
  if (start === n.length) return 0;
  return (n.length - start - 1) * 8 + (32 - Math.clz32(n[start] ?? 0));
}

type Ssh2Utils = typeof import('ssh2').utils;
let utilsCache: Ssh2Utils | undefined;

/** ssh2 is loaded only when a key is parsed: it is heavy for every other command. */
function ssh2Utils(): Ssh2Utils {
  utilsCache ??= (createRequire(import.meta.url)('ssh2') as typeof import('ssh2')).utils;
  return utilsCache;
}
