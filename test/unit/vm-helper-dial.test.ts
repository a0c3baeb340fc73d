import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// The VM helper's `dial PORT` (templates/vm-helper.py), run here with this machine's python3 as
// the gateway runs it in a VM: stdin to the connection, the connection's bytes framed on stdout
// (4-byte length, data; an empty frame for its EOF), so that each side can end its half alone.
const HELPER = join(ROOT, 'templates', 'vm-helper.py');
let server: Server;
let port = 0;

beforeAll(async () => {
  // Answers what it got, upper-cased, once the client has ended its half; then ends its own.
  server = createServer((s) => {
    const got: Buffer[] = [];
    s.on('data', (c) => got.push(c));
    s.on('end', () => s.end(Buffer.concat(got).toString().toUpperCase()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function frames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= buf.length; ) {
    const n = buf.readUInt32BE(at);
    out.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

function dial(target: number, input: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', [HELPER, 'dial', String(target)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c;
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input);
  });
}

describe('vm-helper dial', () => {
  it('relays both halves: what it sends after our EOF comes back framed, then an empty frame', async () => {
    const r = await dial(port, 'hello over exec');
    expect(r.code).toBe(0);
    const parts = frames(r.stdout);
    expect(Buffer.concat(parts).toString()).toBe('HELLO OVER EXEC');
    expect(parts.at(-1)?.length).toBe(0);
  });

  it('exits 1 with the reason when nothing listens on the port', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await dial(free, '');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dial \d+: .*refused/i);
    expect(r.stdout.length).toBe(0);
  });
});
