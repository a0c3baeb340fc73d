import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { berth } from './cli.js';

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function daemonLog(home: string): Promise<string> {
  return readFile(join(home, 'logs', 'daemon.log'), 'utf8').catch(() => '');
}

export async function state(home: string) {
  return JSON.parse(await readFile(join(home, 'state.json'), 'utf8'));
}

export async function stopDaemonQuietly(home: string): Promise<void> {
  await berth(home, ['daemon', 'stop']);
}

/** The daemon's /metrics, read through its control socket. */
export function daemonMetrics(home: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ socketPath: join(home, 'berth.sock'), path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}
