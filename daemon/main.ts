import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { effectiveConfig } from '../src/domain/config-keys.js';
import { BerthError } from '../src/errors.js';
import { packageRoot } from '../src/package-root.js';
import { openBerth } from '../src/services/context.js';
import { type DaemonStatus, daemonPaths } from '../src/services/daemon-control.js';
import { fanOut, type Notifier } from '../src/services/notify.js';
import { loadOrCreateHostKey } from '../src/services/ssh-host-key.js';
import { startApi } from './api.js';
import { Components } from './components.js';
import { EventsFollower } from './events.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { Scheduler } from './scheduler.js';
import { SshGateway } from './ssh/server.js';

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
 */
export async function runDaemon(home: string, options: { pretty: boolean }): Promise<void> {
  const paths = daemonPaths(home);
  const ctx0 = openBerth(home);
  const state = await ctx0.store.read();
  const config = effectiveConfig(state.config);
  const log = createLogger(config['log-level'], options.pretty);
  const running = () =>
    new BerthError(
      'DAEMON_RUNNING',
      `A berth daemon already runs for ${home}.`,
      'See it with berth daemon status; stop it with berth daemon stop.',
    );
  if (await socketAnswers(paths.socket)) throw running();
  // Held for the daemon's life; a killed daemon's lock goes stale after 5 s and is taken over.
  const { default: lockfile } = await import('proper-lockfile');
  const unlock = await lockfile
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

  const components = new Components();
  for (const name of ['api', 'scheduler', 'events'] as const) components.set(name, 'starting');
  components.set('telegram', 'disabled', 'no token — run berth telegram setup');
  components.set('ssh', config['ssh.enabled'] ? 'starting' : 'disabled', config['ssh.enabled'] ? '' : 'ssh.enabled is off');

  const notifyLog = log.child({ component: 'notify' });
  const logNotifier: Notifier = {
    send: async (n) => {
      notifyLog.info({ user: n.to, vm: n.vm, kind: n.kind }, n.text);
    },
  };
  const ctx = openBerth(
    home,
    fanOut([logNotifier], (err, n) => notifyLog.error({ err: String(err), kind: n.kind }, 'notice not delivered')),
  );
  const metrics = createMetrics(ctx);
  let gateway: SshGateway | null = null;
  const sessions = (ref: string) => gateway?.countForVm(ref) ?? 0;
  const startedAt = new Date();
  const version = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;

  const status = async (): Promise<DaemonStatus> => {
    const s = await ctx.store.read().catch(() => null);
    return {
      running: true,
      pid: process.pid,
      version,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      socket: paths.socket,
      components: components.list(),
      maintenance: s ? { on: s.maintenance.on, reason: s.maintenance.reason, until: s.maintenance.until } : null,
    };
  };

  const api = await startApi({
    socket: paths.socket,
    metricsListen: config['metrics.listen'],
    status,
    metrics,
    ssh: {
      sessions: () => gateway?.sessions() ?? [],
      kill: (id) => gateway?.kill(id) ?? false,
    },
  });
  components.set('api', 'running', `${paths.socket}${api.metricsAddress ? `, metrics on ${api.metricsAddress}` : ''}`);
  const pidTemp = `${paths.pidFile}.${process.pid}.tmp`;
  await writeFile(pidTemp, `${process.pid}\n`, { mode: 0o600 });
  await rename(pidTemp, paths.pidFile);

  const events = new EventsFollower(ctx, components, log.child({ component: 'events' }), metrics);
  events.start();
  const scheduler = new Scheduler(ctx, components, log.child({ component: 'scheduler' }), metrics, sessions);
  scheduler.start();
  if (config['ssh.enabled']) {
    const sshLog = log.child({ component: 'ssh' });
    try {
      const hostKey = await loadOrCreateHostKey(home);
      gateway = new SshGateway({ ctx, log: sshLog, metrics: metrics.ssh, listen: config['ssh.listen'], hostKey });
      const address = await gateway.start();
      components.set('ssh', 'running', `${address}, host key ${hostKey.fingerprint}`);
      sshLog.info({ address, hostKey: hostKey.fingerprint }, 'ssh gateway listening');
    } catch (err) {
      gateway = null;
      components.set('ssh', 'failed', `could not listen on ${config['ssh.listen']}`, err);
      sshLog.error({ err: String(err) }, 'ssh gateway did not start');
    }
  }
  log.info({ component: 'daemon', socket: paths.socket, version }, 'berth daemon started');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ component: 'daemon', signal }, 'stopping');
      const hardStop = setTimeout(() => {
        log.warn({ component: 'daemon' }, 'in-flight work did not finish in 8 s; exiting anyway');
        resolve();
      }, 8000);
      hardStop.unref();
      void (async () => {
        await gateway?.stop().catch(() => undefined);
        await api.close().catch(() => undefined);
        await scheduler.stop().catch(() => undefined);
        await events.stop().catch(() => undefined);
        clearTimeout(hardStop);
        resolve();
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await rm(paths.pidFile, { force: true });
  await rm(paths.socket, { force: true });
  await unlock().catch(() => undefined);
  log.info({ component: 'daemon' }, 'stopped');
  log.flush?.();
}
