import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../src/errors.js';
import { daemonPaths } from '../src/services/control/daemon-control.js';
import { openBerth } from '../src/services/engine/open.js';
import { effectiveConfig } from '../src/values/config-keys.js';
import { RotatingLogFile } from './log-file.js';
import { createLogger } from './logger.js';
import { type Daemon, logLimits, STEPS, type Stop, wireDaemon } from './start-steps.js';
import { type Step, startupPlan } from './startup-plan.js';

/** How long the parts have to stop before the daemon exits anyway. */
const STOP_DEADLINE_MS = 8000;

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The daemon in the foreground until SIGTERM/SIGINT. Only one runs per berth home:
 * the control socket is the lock (a socket that answers means a live daemon; one that
 * does not is a crashed daemon's, and is replaced).
 *
 * What starts, in which order, and how it stops is `startupPlan`'s decision (startup-plan.ts);
 * each step is in start-steps.ts; this carries the plan out.
 */
export async function runDaemon(home: string, options: { pretty: boolean; logToFile?: boolean }): Promise<void> {
  const paths = daemonPaths(home);
  const config = effectiveConfig((await openBerth(home).store.read()).config);
  const plan = startupPlan(config, { logToFile: Boolean(options.logToFile) });
  // In the background the daemon writes its own log, rotated by size; in the foreground, stdout.
  const logFile = plan.logFile ? new RotatingLogFile(paths.logFile, logLimits(config)) : null;
  const log = createLogger(config['log-level'], options.pretty, logFile ?? undefined);
  guardProcess(log, logFile);
  const unlock = await lockHome(home, paths.socket);
  const d = wireDaemon(home, paths, config, log, logFile, plan);
  const release = async () => {
    await rm(paths.pidFile, { force: true });
    await rm(paths.socket, { force: true });
    await unlock().catch(() => undefined);
  };
  const stops = await startInOrder(d, plan.start).catch(async (err: unknown) => {
    await release();
    throw err;
  });
  log.info({ component: 'daemon', socket: paths.socket, version: d.version }, 'berth daemon started');
  await untilSignal(log, () => stopInOrder(plan.stop, stops));
  await release();
  log.info({ component: 'daemon' }, 'stopped');
  log.flush?.();
}

/**
 * SIGHUP reopens the log file. A promise nobody awaited is logged and the daemon goes on; an
 * exception nothing caught leaves it in an unknown state: logged, then exit 1 (systemd restarts it).
 */
function guardProcess(log: Logger, logFile: RotatingLogFile | null): void {
  if (logFile) process.on('SIGHUP', () => logFile.reopen());
  process.on('unhandledRejection', (reason) => {
    log.error(
      { component: 'daemon', err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) },
      'unhandled rejection',
    );
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ component: 'daemon', err: err.stack ?? String(err) }, 'uncaught exception; exiting');
    log.flush?.();
    logFile?.flushSync();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 200);
  });
}

/** Held for the daemon's life (the release it returns); a killed daemon's lock goes stale after 5 s and is taken over. */
async function lockHome(home: string, socket: string): Promise<() => Promise<void>> {
  const running = () =>
    new BerthError(
      'DAEMON_RUNNING',
      `A berth daemon already runs for ${home}.`,
      'See it with berth daemon status; stop it with berth daemon stop.',
    );
  if (await socketAnswers(socket)) throw running();
  const { default: lockfile } = await import('proper-lockfile');
  return lockfile
    .lock(home, {
      realpath: false,
      lockfilePath: join(home, 'daemon.lock'),
      stale: 5000,
      update: 1000,
      retries: { retries: 12, minTimeout: 500, maxTimeout: 1000 },
    })
    .catch(() => {
      throw running();
    });
}

/** Runs the steps in order; when one throws, the ones that started are stopped, last first, and the error goes on. */
async function startInOrder(d: Daemon, steps: Step[]): Promise<Map<Step, Stop>> {
  const stops = new Map<Step, Stop>();
  for (const step of steps) {
    try {
      const stop = await STEPS[step](d);
      if (stop) stops.set(step, stop);
    } catch (err) {
      await stopInOrder([...stops.keys()].reverse(), stops);
      throw err;
    }
  }
  return stops;
}

/** Stops the parts that started, in `order`, each failure ignored; at most STOP_DEADLINE_MS in all. */
function stopInOrder(order: Step[], stops: Map<Step, Stop>): Promise<'stopped' | 'late'> {
  return new Promise((resolve) => {
    const hardStop = setTimeout(() => resolve('late'), STOP_DEADLINE_MS);
    hardStop.unref();
    void (async () => {
      for (const step of order) await (async () => stops.get(step)?.())().catch(() => undefined);
      clearTimeout(hardStop);
      resolve('stopped');
    })();
  });
}

/** Waits for SIGTERM or SIGINT, then `stop`. */
function untilSignal(log: Logger, stop: () => Promise<'stopped' | 'late'>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ component: 'daemon', signal }, 'stopping');
      void stop().then((how) => {
        if (how === 'late') log.warn({ component: 'daemon' }, 'in-flight work did not finish in 8 s; exiting anyway');
        resolve();
      });
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
}
