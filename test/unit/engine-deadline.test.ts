import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/docker/runtime.js';
import { isDeadline, withDeadline } from '../../src/services/engine/deadline.js';
import { ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';

// A frozen engine: its socket accepts and never answers (a dockerd stopped with SIGSTOP does the
// same). A deadline that gives up on it must also end the request, or the process stays waiting.

let server: Server;
let port = 0;
const open = new Set<Socket>();

beforeAll(async () => {
  server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    s.resume(); // reads (and drops) the request, and so sees the client's close
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  for (const s of open) s.destroy();
  server.close();
});

describe('a deadline on a frozen engine', () => {
  it('fails with ENGINE_TIMEOUT and ends the request it was waiting on, however deep the call', async () => {
    const runtime = DockerRuntime.at(`tcp://127.0.0.1:${port}`);
    const nested = async () => {
      await new Promise((r) => setTimeout(r, 10));
      return runtime.version();
    };
    const err = await withDeadline(300, 'answer', () => nested()).catch((e: unknown) => e);
    expect(isDeadline(err)).toBe(true);
    await waitFor('the engine connection to be closed by the client', async () => open.size === 0, 5000);
  });

  it('lets a command’s process exit at once, with nothing left waiting on the engine', async () => {
    const script = `
      const { DockerRuntime } = await import(${JSON.stringify(join(ROOT, 'dist/src/docker/runtime.js'))});
      const { withDeadline } = await import(${JSON.stringify(join(ROOT, 'dist/src/services/engine/deadline.js'))});
      const runtime = DockerRuntime.at('tcp://127.0.0.1:${port}');
      await withDeadline(300, 'answer', () => runtime.containers([])).catch((e) => console.log(e.code));
    `;
    const child = await execa('node', ['--input-type=module', '-e', script], { timeout: 20_000, reject: false });
    expect(child.timedOut).toBe(false);
    expect(child.stdout.trim()).toBe('ENGINE_TIMEOUT');
  });
});
