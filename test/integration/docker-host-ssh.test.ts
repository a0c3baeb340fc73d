import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, tempHome } from '../helpers/cli.js';

const { Server, utils } = ssh2;

/**
 * A stand-in for an engine's host reached over ssh://: an SSH server on loopback that accepts any
 * login and records how far each client got (its authentication, and the command a Docker client
 * runs there: `docker system dial-stdio`). Nothing behind it is an engine.
 */
function standIn() {
  const hostKey = utils.generateKeyPairSync('ed25519');
  const seen = { connections: 0, auths: 0, execs: [] as string[] };
  const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    seen.connections++;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      seen.auths++;
      ctx.accept();
    });
    client.on('session', (accept) => {
      const session = accept();
      session.on('exec', (accept, _reject, info) => {
        seen.execs.push(info.command);
        const channel = accept();
        channel.exit(1);
        channel.end();
      });
    });
  });
  return { server, seen, publicKey: hostKey.public };
}

/** The error code a failed `--json` command printed (on stderr, one JSON document). */
const errorCode = (run: { stderr: string }) => {
  const line = run.stderr.split('\n').find((l) => l.startsWith('{"error"'));
  return line ? (JSON.parse(line) as { error: { code: string } }).error.code : `no error document in: ${run.stderr}`;
};

describe('an engine reached through DOCKER_HOST=ssh://', () => {
  const engine = standIn();
  let port = 0;
  let home = '';
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    await new Promise<void>((resolve) => engine.server.listen(0, '127.0.0.1', resolve));
    port = (engine.server.address() as AddressInfo).port;
    const t = await tempHome();
    home = t.home;
    cleanup = t.cleanup;
    dir = join(home, '..', 'user');
    await mkdir(join(dir, '.ssh'), { recursive: true });
    expect((await berth(home, ['init'])).code).toBe(0);
  });

  afterAll(async () => {
    engine.server.close();
    await cleanup();
  });

  const list = () =>
    berth(home, ['image', 'list', '--json'], {
      // HOME is where known_hosts is read from (~/.ssh/known_hosts); no agent offers a key.
      env: { DOCKER_HOST: `ssh://tester@127.0.0.1:${port}`, HOME: dir, SSH_AUTH_SOCK: '' },
    });

  it('is refused with DOCKER_HOST_KEY_UNKNOWN when its host key is not in known_hosts, before any login or Docker request', async () => {
    const run = await list();
    expect(run.code).not.toBe(0);
    expect(errorCode(run)).toBe('DOCKER_HOST_KEY_UNKNOWN');
    expect(engine.seen.connections).toBeGreaterThan(0);
    expect(engine.seen.auths).toBe(0);
    expect(engine.seen.execs).toEqual([]);
  });

  it('is refused too when known_hosts holds another key for it', async () => {
    const other = utils.generateKeyPairSync('ed25519');
    await writeFile(join(dir, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${other.public}\n`);
    const run = await list();
    expect(errorCode(run)).toBe('DOCKER_HOST_KEY_UNKNOWN');
    expect(engine.seen.auths).toBe(0);
    expect(engine.seen.execs).toEqual([]);
  });

  it('is talked to once known_hosts holds its key (the check is what stopped the client above)', async () => {
    await writeFile(join(dir, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${engine.publicKey}\n`);
    const run = await list();
    // Nothing behind the stand-in is an engine, so the command still fails, but only after
    // logging in and asking for the engine's socket.
    expect(run.code).not.toBe(0);
    expect(errorCode(run)).not.toBe('DOCKER_HOST_KEY_UNKNOWN');
    expect(engine.seen.auths).toBeGreaterThan(0);
    expect(engine.seen.execs).toContain('docker system dial-stdio');
  });
});
