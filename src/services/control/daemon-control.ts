import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { BerthError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { type DaemonStatus, errorFromAnswer, ROUTES, type Route, type RouteInput, routePath } from './daemon-routes.js';

// node:http by require, not import: the ESM facade of node:http reads every export, and one of
// them loads undici (~40 ms at each CLI start that touches the daemon).
const { request } = createRequire(import.meta.url)('node:http') as typeof Http;

export function daemonPaths(home: string) {
  return {
    socket: join(home, 'berth.sock'),
    pidFile: join(home, 'daemon.pid'),
    logDir: join(home, 'logs'),
    logFile: join(home, 'logs', 'daemon.log'),
    /** What the background daemon prints outside its log (a crash before the logger is up): from its last start. */
    outFile: join(home, 'logs', 'daemon.out'),
  };
}

/** How long a call waits for the daemon's answer, unless told otherwise. */
const ANSWER_MS = 3000;

/**
 * Calls one route of the daemon's control API over its unix socket. The daemon's refusals come
 * back as the `BerthError` it threw (same code, message and hint); no daemon, one that does not
 * answer in time, or one that cannot be reached are `BerthError`s too (DAEMON_NOT_RUNNING,
 * DAEMON_TIMEOUT, DAEMON_UNREACHABLE). `needs` says what the caller wanted the daemon for.
 */
export function callDaemon<P, B, R>(
  home: string,
  route: Route<P, B, R>,
  input: RouteInput<P, B>,
  options: { timeoutMs?: number; needs?: string } = {},
): Promise<R> {
  const socketPath = daemonPaths(home).socket;
  const path = routePath(route, input.params);
  const timeoutMs = options.timeoutMs ?? ANSWER_MS;
  const asked = `${route.method} ${route.path}`;
  const payload = input.body === undefined ? undefined : JSON.stringify(input.body);
  return new Promise((resolve, reject) => {
    const headers = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const req = request({ socketPath, path, method: route.method, timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => {
        const status = res.statusCode ?? 500;
        if (status >= 400) {
          reject(
            errorFromAnswer(status, body) ??
              new BerthError(
                'DAEMON_ERROR',
                `The berth daemon answered ${asked} with status ${status}: ${body.slice(0, 200)}`,
                'See its log: berth daemon logs',
              ),
          );
          return;
        }
        try {
          resolve(route.answers === 'json' ? JSON.parse(body) : (body as R));
        } catch {
          reject(new BerthError('DAEMON_ERROR', `The berth daemon's answer to ${asked} is not JSON.`, 'See its log: berth daemon logs'));
        }
      });
    });
    req.on('timeout', () => req.destroy(daemonTimeout(asked, timeoutMs)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof BerthError ? err : daemonUnreachable(err, socketPath, options.needs)),
    );
    req.end(payload);
  });
}

function daemonTimeout(asked: string, timeoutMs: number): BerthError {
  return new BerthError(
    'DAEMON_TIMEOUT',
    `The berth daemon did not answer ${asked} within ${timeoutMs / 1000} s.`,
    'See what it is doing: berth daemon logs; restart it with berth daemon stop && berth daemon start',
  );
}

function daemonUnreachable(err: NodeJS.ErrnoException, socket: string, needs: string | undefined): BerthError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new BerthError(
      'DAEMON_NOT_RUNNING',
      `The berth daemon is not running${needs ? ` (${needs})` : ''}.`,
      'Start it: berth daemon start',
    );
  }
  return new BerthError(
    'DAEMON_UNREACHABLE',
    `The berth daemon's socket ${socket} cannot be reached: ${err.message}.`,
    'Run berth as the user the daemon runs as; see berth daemon status.',
  );
}

/** The pid in the pid file, if that process is alive and is a berth daemon. */
export function livePid(home: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(daemonPaths(home).pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  try {
    // A pid reused by another program (or another home's daemon) after a crash is not ours.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.some((a) => a.endsWith('run.js')) || !argv.includes('daemon') || !argv.includes('run')) return null;
    const homeVar = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((e) => e.startsWith('BERTH_HOME='));
    if (homeVar && resolve(homeVar.slice('BERTH_HOME='.length)) !== resolve(home)) return null;
  } catch {
    // no /proc (not Linux): trust kill(0)
  }
  return pid;
}

export async function daemonStatus(home: string): Promise<DaemonStatus> {
  const socket = daemonPaths(home).socket;
  try {
    return await callDaemon(home, ROUTES.status, {});
  } catch {
    return {
      running: false,
      pid: livePid(home),
      version: null,
      startedAt: null,
      uptimeSeconds: null,
      socket,
      components: [],
      maintenance: null,
    };
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function lastLogLines(home: string, n = 15): Promise<string> {
  const paths = daemonPaths(home);
  const lines: string[] = [];
  for (const file of [paths.logFile, paths.outFile]) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim()) lines.push(...text.trimEnd().split('\n').slice(-n));
  }
  return lines.length ? lines.join('\n') : '(no log)';
}

/** Starts the daemon in the background and waits until it answers healthy. */
export async function startDaemon(home: string, options: { timeoutMs?: number } = {}): Promise<DaemonStatus> {
  const running = await daemonStatus(home);
  if (running.running) {
    throw new BerthError(
      'DAEMON_RUNNING',
      `The berth daemon is already running (pid ${running.pid}).`,
      'See it with `berth daemon status`; stop it with `berth daemon stop`.',
    );
  }
  const paths = daemonPaths(home);
  await mkdir(paths.logDir, { recursive: true, mode: 0o700 });
  // The daemon writes (and rotates) daemon.log itself; its stdout and stderr, which only carry
  // what happens before its logger is up or after it is gone, go to daemon.out, new at each start.
  const out = openSync(paths.outFile, 'w', 0o600);
  // node's spawn, not execa: the child must outlive this process.
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'run.js'), 'daemon', 'run', '--log-to-file'], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, BERTH_HOME: home },
  });
  closeSync(out);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  const healthy = await waitUntil(async () => exited || (await daemonStatus(home)).running, options.timeoutMs ?? 20_000);
  const status = await daemonStatus(home);
  if (!healthy || exited || !status.running) {
    throw new BerthError(
      'DAEMON_START_FAILED',
      `The daemon did not come up. Last lines of ${paths.logFile}:\n${await lastLogLines(home)}`,
      'Fix what the log says, or run it in the foreground to see: berth daemon run',
    );
  }
  return status;
}

/** SIGTERM, wait up to `timeoutMs`, then SIGKILL. Says whether it had to kill. */
export async function stopDaemon(home: string, options: { timeoutMs?: number } = {}): Promise<{ pid: number; killed: boolean } | null> {
  // The daemon answering on this home's socket says who it is; the pid file is the fallback.
  const answered = await callDaemon(home, ROUTES.health, {}, { timeoutMs: 1000 }).catch(() => null);
  const pid = answered?.pid ?? livePid(home);
  if (!pid) {
    await cleanupFiles(home);
    return null;
  }
  process.kill(pid, 'SIGTERM');
  const alive = () => processAlive(pid);
  const stopped = await waitUntil(async () => !alive(), options.timeoutMs ?? 10_000);
  if (!stopped) {
    process.kill(pid, 'SIGKILL');
    await waitUntil(async () => !alive(), 5000);
  }
  await cleanupFiles(home);
  return { pid, killed: !stopped };
}

/**
 * Whether a process still runs. A zombie (exited, not yet reaped: under an init that does not
 * reap, such as a container whose PID 1 is `sleep`) counts as gone, though `kill(pid, 0)` finds it.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S …": comm may hold spaces and parentheses; the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function cleanupFiles(home: string): Promise<void> {
  const paths = daemonPaths(home);
  if (livePid(home)) return;
  await rm(paths.pidFile, { force: true });
  await rm(paths.socket, { force: true });
}

/** A systemd unit that runs `berth daemon run` for this home. */
export function systemdUnit(home: string, user: boolean): string {
  return [
    '[Unit]',
    'Description=berth daemon (Telegram and Discord bots, SSH gateway, maintenance scheduler, control API)',
    'After=network-online.target docker.service',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `Environment=BERTH_HOME=${home}`,
    `ExecStart=${process.execPath} ${join(packageRoot(), 'bin', 'run.js')} daemon run`,
    'Restart=on-failure',
    'RestartSec=5',
    'TimeoutStopSec=15',
    '',
    '[Install]',
    `WantedBy=${user ? 'default.target' : 'multi-user.target'}`,
    '',
  ].join('\n');
}
