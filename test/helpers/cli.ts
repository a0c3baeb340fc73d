import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin', 'run.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would, with its own BERTH_HOME. */
export async function berth(home: string, args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const result = await execa('node', [BIN, ...args], {
    env: { BERTH_HOME: home, NO_COLOR: '1', ...options.env },
    input: options.input,
    reject: false,
    stdin: options.input === undefined ? 'ignore' : undefined,
  });
  return { code: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `berth … --json`, parsed; fails the test with the CLI's stderr when it did not succeed. */
export async function berthJson<T = unknown>(home: string, args: string[]): Promise<T> {
  const run = await berth(home, [...args, '--json']);
  if (run.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

export async function tempHome(): Promise<{ home: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const home = join(dir, 'home');
  return { home, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function stateText(home: string): Promise<string> {
  return readFile(join(home, 'state.json'), 'utf8');
}

/** A TCP port free on 127.0.0.1 a moment ago (for a listener a test configures: the gateway, metrics, the web server). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}
