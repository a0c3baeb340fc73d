import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { knownHostVerifier, knownKeys } from '../../src/docker/known-hosts.js';

/** An OpenSSH ed25519 public key blob (string "ssh-ed25519", then the 32-byte key). */
function blob(): Buffer {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(der.length - 32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
}
const hashed = (name: string) => {
  const salt = Buffer.from('0123456789abcdefghij');
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

const dir = mkdtempSync(join(tmpdir(), 'berth-known-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ssh:// engines: the host's key must be the one known_hosts holds", () => {
  const node2 = blob();
  const node3 = blob();
  const stranger = blob();
  const old = blob();
  const text = [
    '# nodes',
    `node2,10.0.0.2 ssh-ed25519 ${node2.toString('base64')}`,
    `${hashed('[node3]:2200')} ssh-ed25519 ${node3.toString('base64')} comment`,
    `@revoked node2 ssh-ed25519 ${old.toString('base64')}`,
    `@cert-authority * ssh-ed25519 ${stranger.toString('base64')}`,
  ].join('\n');

  it('finds plain and hashed entries, by name and port, and revoked keys', () => {
    expect(knownKeys(text, 'node2', 22).keys).toEqual([node2]);
    expect(knownKeys(text, '10.0.0.2', 22).keys).toEqual([node2]);
    expect(knownKeys(text, 'node2', 22).revoked).toEqual([old]);
    expect(knownKeys(text, 'node3', 2200).keys).toEqual([node3]);
    expect(knownKeys(text, 'node3', 22).keys).toEqual([]); // another port is another host
    expect(knownKeys(text, 'node4', 22).keys).toEqual([]); // the CA line is not read
  });

  it("accepts only a known host's own key; refuses an unknown host, another host's key, a revoked key", () => {
    const file = join(dir, 'known_hosts');
    const system = join(dir, 'ssh_known_hosts');
    writeFileSync(file, text);
    writeFileSync(system, `node3 ssh-ed25519 ${old.toString('base64')}\n@revoked [node3]:2200 ssh-ed25519 ${node3.toString('base64')}\n`);
    const files = [file, join(dir, 'missing'), system];
    expect(knownHostVerifier('node2', 22, files)(node2)).toBe(true);
    expect(knownHostVerifier('node2', 22, files)(stranger)).toBe(false);
    expect(knownHostVerifier('node2', 22, files)(node3)).toBe(false);
    expect(knownHostVerifier('node2', 22, files)(old)).toBe(false);
    expect(knownHostVerifier('nowhere', 22, files)(stranger)).toBe(false);
    // Revoked in the second file, though known in the first.
    expect(knownHostVerifier('node3', 2200, files)(node3)).toBe(false);
  });
});
