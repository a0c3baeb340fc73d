import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey, parsePublicKeys } from '../../src/domain/ssh-keys.js';
import type { BerthError } from '../../src/errors.js';

let dir: string;

async function keygen(name: string, ...args: string[]): Promise<{ pub: string; priv: string; fingerprint: string }> {
  const path = join(dir, name);
  await execa('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test`, '-f', path, ...args]);
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`]);
  return { pub: await readFile(`${path}.pub`, 'utf8'), priv: await readFile(path, 'utf8'), fingerprint: stdout.split(' ')[1] ?? '' };
}

function refusal(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-keys-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('SSH public keys', () => {
  it('gives the same SHA256 fingerprints as ssh-keygen for ed25519, ECDSA and RSA', async () => {
    for (const [name, args, bits] of [
      ['ed', ['-t', 'ed25519'], 256],
      ['ec', ['-t', 'ecdsa', '-b', '384'], 384],
      ['rsa', ['-t', 'rsa', '-b', '3072'], 3072],
    ] as const) {
      const key = await keygen(name, ...args);
      const parsed = parsePublicKey(key.pub.trim());
      expect(parsed.fingerprint).toBe(key.fingerprint);
      expect(parsed.bits).toBe(bits);
      expect(parsed.comment).toBe(`${name}@test`);
    }
  });

  it('refuses RSA keys under 2048 bits', async () => {
    const key = await keygen('weak', '-t', 'rsa', '-b', '1024');
    expect(refusal(() => parsePublicKey(key.pub.trim())).code).toBe('WEAK_SSH_KEY');
  });

  it('refuses a private key without echoing it', async () => {
    const key = await keygen('secret', '-t', 'ed25519');
    const err = refusal(() => parsePublicKeys(key.priv));
    expect(err.code).toBe('PRIVATE_KEY_GIVEN');
    expect(err.message).not.toContain(key.priv.split('\n')[1]);
  });

  it('refuses truncated, mismatched, optioned and foreign lines', async () => {
    const key = await keygen('x', '-t', 'ed25519');
    const [type, blob] = key.pub.split(' ') as [string, string];
    expect(refusal(() => parsePublicKey(`${type} ${blob.slice(0, 30)}`)).code).toBe('INVALID_SSH_KEY');
    expect(refusal(() => parsePublicKey(`ssh-rsa ${blob}`)).code).toBe('INVALID_SSH_KEY');
    expect(refusal(() => parsePublicKey(`command="sh" ${key.pub}`)).code).toBe('INVALID_SSH_KEY');
    expect(refusal(() => parsePublicKey(`ssh-dss ${blob}`)).code).toBe('UNSUPPORTED_SSH_KEY');
    expect(refusal(() => parsePublicKey('hello world')).code).toBe('INVALID_SSH_KEY');
    expect(refusal(() => parsePublicKeys('\n# only a comment\n')).code).toBe('INVALID_SSH_KEY');
  });

  it('reads several keys from an authorized_keys text', async () => {
    const a = await keygen('a', '-t', 'ed25519');
    const b = await keygen('b', '-t', 'ecdsa');
    const keys = parsePublicKeys(`# team\n${a.pub}\n\n${b.pub}`);
    expect(keys.map((k) => k.fingerprint)).toEqual([a.fingerprint, b.fingerprint]);
  });
});
