import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The files OpenSSH reads a host's keys from, as the docker CLI's ssh does. */
export function knownHostsFiles(): string[] {
  return [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
}

/** How OpenSSH names a host in known_hosts: `host`, or `[host]:port` off port 22. */
function hostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether one known_hosts host pattern (plain, or hashed `|1|salt|hash`) names `name`. */
function names(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const { createHmac, timingSafeEqual } = process.getBuiltinModule('node:crypto');
    const mine = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    const theirs = Buffer.from(hash, 'base64');
    return mine.length === theirs.length && timingSafeEqual(mine, theirs);
  }
  return pattern.split(',').some((p) => p === name);
}

/**
 * The host keys known_hosts text gives `host:port`. Wildcard patterns and `@cert-authority` lines
 * are not read, and a `@revoked` key is never accepted: a host berth should reach is named as it is.
 */
export function knownKeys(text: string, host: string, port: number): { keys: Buffer[]; revoked: Buffer[] } {
  const name = hostName(host, port);
  const keys: Buffer[] = [];
  const revoked: Buffer[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]?.startsWith('@') ? fields.shift() : undefined;
    const [patterns, , blob] = fields;
    if (!patterns || !blob || marker === '@cert-authority' || !names(patterns, name)) continue;
    (marker === '@revoked' ? revoked : keys).push(Buffer.from(blob, 'base64'));
  }
  return { keys, revoked };
}

/**
 * ssh2's `hostVerifier` for a node's (or DOCKER_HOST's) ssh:// engine: the host's key must be one
 * that known_hosts holds for it, as OpenSSH (and so the docker CLI) requires. ssh2 accepts any key
 * when given no verifier, which would let whoever sits between berth and the node pose as its
 * engine (and receive what berth sends it: users' agent keys, home archives).
 */
export function knownHostVerifier(host: string, port: number, files: string[] = knownHostsFiles()): (key: Buffer) => boolean {
  return (key: Buffer) => {
    const keys: Buffer[] = [];
    const revoked: Buffer[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const found = knownKeys(text, host, port);
      keys.push(...found.keys);
      revoked.push(...found.revoked);
    }
    return !revoked.some((k) => k.equals(key)) && keys.some((k) => k.equals(key));
  };
}
