import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, tempHome } from '../helpers/cli.js';

/**
 * berth's engine frozen: its socket accepts connections and never answers (a dockerd stopped with
 * SIGSTOP, or wedged). A command that needs it fails within the engine's deadline and its process
 * exits, with nothing changed; one that does not need it is not held up.
 */
let home: string;
let cleanup: () => Promise<void>;
let server: Server;
const held = new Set<Socket>();

beforeAll(async () => {
  ({ home, cleanup } = await tempHome());
  const socket = join(home, '..', 'frozen-docker.sock');
  await rm(socket, { force: true });
  server = createServer((c) => {
    held.add(c);
    c.on('close', () => held.delete(c));
    c.on('error', () => undefined);
    c.resume(); // read and drop what the client sends, and see it hang up
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  expect((await berth(home, ['init'])).code).toBe(0);
  expect((await berth(home, ['config', 'set', 'docker.host', `unix://${socket}`])).code).toBe(0);
  expect((await berth(home, ['user', 'allow', 'alice'])).code).toBe(0);
});

afterAll(async () => {
  for (const c of held) c.destroy();
  await new Promise((resolve) => server.close(resolve));
  await cleanup();
});

describe('a frozen engine', () => {
  it('makes vm create fail with ENGINE_TIMEOUT within its deadline, the process exiting, nothing recorded', async () => {
    const before = held.size;
    const started = Date.now();
    const run = await berth(home, ['vm', 'create', 'alice', '--json']);
    expect(run.code).toBe(1);
    // The engine's deadline (10 s) and a CLI's start, with room for a loaded machine: never the minutes of a hang.
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(JSON.parse(run.stderr)).toMatchObject({
      error: { code: 'ENGINE_TIMEOUT', message: expect.stringMatching(/did not answer within 10 s/) },
    });
    const list = await berth(home, ['vm', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
    // The command's connection ended with it: the engine holds nothing of it any more.
    await expect.poll(() => held.size, { timeout: 5000 }).toBeLessThanOrEqual(before);
  }, 60_000);

  it('does not hold up what needs no engine', async () => {
    const connections = held.size;
    const run = await berth(home, ['plan', 'list', '--json']);
    expect(run.code).toBe(0);
    expect(held.size).toBe(connections);
  });
});
