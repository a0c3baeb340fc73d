import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../src/errors.js';
import { packageRoot } from '../src/package-root.js';
import { loadOrCreateHostKey } from '../src/services/access/ssh-host-key.js';
import { operatorWebLink, TicketBook } from '../src/services/access/web-links.js';
import { AgentRuns } from '../src/services/agents/agent-runs.js';
import { daemonPaths } from '../src/services/control/daemon-control.js';
import type { DaemonStatus, WebLink } from '../src/services/control/daemon-routes.js';
import type { Berth } from '../src/services/core/context.js';
import { drainOutbox, outboxDir } from '../src/services/core/notice-spool.js';
import { fanOut, type Notifier } from '../src/services/core/notify.js';
import { openBerth } from '../src/services/engine/open.js';
import { loadTelegramToken } from '../src/services/secrets/telegram-token.js';
import { restoreHomes } from '../src/services/vm/homes.js';
import { type ConfigValues, effectiveConfig } from '../src/values/config-keys.js';
import { startApi } from './api.js';
import { Components } from './components.js';
import { EventsFollower } from './events.js';
import { FirewallKeeper } from './firewall.js';
import { RotatingLogFile } from './log-file.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { NodeEvents } from './node-events.js';
import { Scheduler } from './scheduler.js';
import { newSession, SessionRegistry } from './sessions.js';
import { SshGateway } from './ssh/server.js';
import { watchDir } from './state-watch.js';
import type { TelegramBot } from './telegram/bot.js';
import type { WebServer } from './web/server.js';

/** The web server's links for the bot: its tickets, while the web server runs. */
type WebLinks = { book: TicketBook; running: () => boolean };

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

/** The bot when a token is configured; a bot that cannot start leaves the rest of the daemon running. */
async function startBot(
  ctx: Berth,
  home: string,
  config: ConfigValues,
  log: Logger,
  components: Components,
  web: WebLinks,
  agents: AgentRuns,
): Promise<TelegramBot | null> {
  let token: Awaited<ReturnType<typeof loadTelegramToken>>;
  try {
    token = await loadTelegramToken(home);
  } catch (err) {
    components.set('telegram', 'failed', (err as Error).message, err);
    return null;
  }
  if (!token) {
    components.set('telegram', 'disabled', 'no token — run berth telegram setup');
    return null;
  }
  components.set('telegram', 'starting');
  try {
    // Loaded only when there is a bot to run: grammY is not needed otherwise.
    const { startTelegram } = await import('./telegram/bot.js');
    const bot = await startTelegram({
      ctx,
      home,
      log,
      token: token.token,
      tokenSource: token.source,
      config,
      web,
      agents,
      onFailure: (message) => components.set('telegram', 'failed', message, message),
    });
    const s = bot.status();
    components.set('telegram', 'running', `@${s.username}, ${s.mode}, token from ${s.tokenSource}`);
    return bot;
  } catch (err) {
    const message = err instanceof BerthError ? err.message : String(err);
    log.error({ err: message }, 'the telegram bot could not start');
    components.set('telegram', 'failed', message, message);
    return null;
  }
}

/**
 * The daemon in the foreground until SIGTERM/SIGINT. Only one runs per berth home:
 * the control socket is the lock (a socket that answers means a live daemon; one that
 * does not is a crashed daemon's, and is replaced).
 */
export async function runDaemon(home: string, options: { pretty: boolean; logToFile?: boolean }): Promise<void> {
  const paths = daemonPaths(home);
  const ctx0 = openBerth(home);
  const state = await ctx0.store.read();
  const config = effectiveConfig(state.config);
  const logLimits = (c: ConfigValues) => ({ maxBytes: c['log.max-size'], keep: c['log.keep'] });
  // In the background the daemon writes its own log, rotated by size; in the foreground, stdout.
  const logFile = options.logToFile ? new RotatingLogFile(paths.logFile, logLimits(config)) : null;
  const log = createLogger(config['log-level'], options.pretty, logFile ?? undefined);
  if (logFile) process.on('SIGHUP', () => logFile.reopen());
  // A promise nobody awaited is logged and the daemon goes on; an exception nothing caught
  // leaves it in an unknown state: logged, then exit 1 (systemd restarts it).
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
  components.set('ssh', config['ssh.enabled'] ? 'starting' : 'disabled', config['ssh.enabled'] ? '' : 'ssh.enabled is off');
  components.set('web', config['web.enabled'] ? 'starting' : 'disabled', config['web.enabled'] ? '' : 'web.enabled is off');

  const notifyLog = log.child({ component: 'notify' });
  const logNotifier: Notifier = {
    send: async (n) => {
      notifyLog.info({ user: n.to, vm: n.vm, kind: n.kind }, n.text);
    },
  };
  const notifiers: Notifier[] = [logNotifier];
  const ctx = openBerth(
    home,
    fanOut(notifiers, (err, n) => notifyLog.error({ err: String(err), kind: n.kind }, 'notice not delivered')),
  );
  let telegram: TelegramBot | null = null;
  const metrics = createMetrics(ctx);
  let gateway: SshGateway | null = null;
  let web: WebServer | null = null;
  // One list of open sessions, SSH and web: limits, the idle policy, berth sessions / kill.
  const registry = new SessionRegistry();
  const sessions = (ref: string) => registry.countForVm(ref);
  // Agent runs from chat: listed with the sessions (the idle policy counts them, berth sessions
  // shows and kills them), each one audited in the log and the metrics.
  const agentLog = log.child({ component: 'agent' });
  const agentRuns = new AgentRuns(ctx, {
    track: (run) => {
      const session = newSession(
        { identity: { login: run.user, fingerprint: '' }, source: 'telegram' },
        { kind: 'agent', vm: run.vm, command: run.agent, startedAt: run.startedAt, kill: () => run.stop() },
      );
      registry.add(session);
      metrics.agent.active.inc();
      return () => {
        registry.remove(session.id);
        metrics.agent.active.dec();
      };
    },
    audit: (record) => {
      const { error, ...fields } = record;
      agentLog.info({ ...fields, ...(error ? { error } : {}) }, 'agent run');
      metrics.agent.runs.inc({ agent: record.agent, outcome: record.outcome });
      metrics.agent.seconds.observe({ agent: record.agent }, record.durationMs / 1000);
      if (record.inputTokens) metrics.agent.tokens.inc({ agent: record.agent, direction: 'in' }, record.inputTokens);
      if (record.outputTokens) metrics.agent.tokens.inc({ agent: record.agent, direction: 'out' }, record.outputTokens);
    },
  });
  // One-time web links: minted by the bot and (through the control API) the CLI, spent by the web server.
  const tickets = new TicketBook();
  const webRunning = () => web !== null;
  const mintLink = async (ref: string, port?: string, strip?: boolean): Promise<WebLink> => {
    if (!webRunning()) {
      throw new BerthError(
        'WEB_NOT_RUNNING',
        "The daemon's web server is not running.",
        'See why with berth daemon status (component web); web.enabled turns it on.',
      );
    }
    return operatorWebLink(ctx, tickets, ref, port, strip);
  };
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

  const telegramView = () => {
    const c = components.list().find((x) => x.name === 'telegram');
    return { running: c?.state === 'running', detail: c?.detail, bot: telegram?.status() };
  };
  const api = await startApi({
    socket: paths.socket,
    metricsListen: config['metrics.listen'],
    status,
    metrics,
    telegram: telegramView,
    ssh: {
      sessions: () => registry.list(),
      kill: (id) => {
        const session = registry.get(id);
        session?.kill('this session was ended by the operator');
        return session !== undefined;
      },
      revalidate: async () => ((await gateway?.revalidate()) ?? 0) + ((await web?.revalidate()) ?? 0),
    },
    webLink: mintLink,
    log,
  });
  components.set('api', 'running', `${paths.socket}${api.metricsAddress ? `, metrics on ${api.metricsAddress}` : ''}`);
  const pidTemp = `${paths.pidFile}.${process.pid}.tmp`;
  await writeFile(pidTemp, `${process.pid}\n`, { mode: 0o600 });
  await rename(pidTemp, paths.pidFile);

  // The rules before anything else touches the VMs; re-applied when the engine comes back.
  const firewall = new FirewallKeeper(ctx, components, log.child({ component: 'firewall' }));
  await firewall.start();
  // After a reboot: quota disks re-attached and the VMs the engine could not start, started.
  const restored = await restoreHomes(ctx).catch((err: unknown) => {
    log.error({ component: 'daemon', err: String(err) }, 'could not restore home disks');
    return null;
  });
  if (restored && restored.started.length + restored.failed.length > 0)
    log.info({ component: 'daemon', ...restored }, 'home disks restored');
  const events = new EventsFollower(ctx, components, log.child({ component: 'events' }), metrics, () => firewall.kick());
  events.start();
  // Swarm mode: each worker node's engine too (nothing in local mode).
  const nodeEvents = new NodeEvents(ctx, components, log.child({ component: 'nodes' }), metrics, () => firewall.kick());
  nodeEvents.start();
  const scheduler = new Scheduler(ctx, components, log.child({ component: 'scheduler' }), metrics, sessions);
  scheduler.start();
  if (config['ssh.enabled']) {
    const sshLog = log.child({ component: 'ssh' });
    try {
      const hostKey = await loadOrCreateHostKey(home);
      gateway = new SshGateway({ ctx, log: sshLog, metrics: metrics.ssh, listen: config['ssh.listen'], hostKey, registry });
      const address = await gateway.start();
      components.set('ssh', 'running', `${address}, host key ${hostKey.fingerprint}`);
      sshLog.info({ address, hostKey: hostKey.fingerprint }, 'ssh gateway listening');
    } catch (err) {
      gateway = null;
      components.set('ssh', 'failed', err instanceof BerthError ? err.message : `could not listen on ${config['ssh.listen']}`, err);
      sshLog.error({ err: String(err) }, 'ssh gateway did not start');
    }
  }
  if (config['web.enabled']) {
    const webLog = log.child({ component: 'web' });
    try {
      const { WebServer } = await import('./web/server.js');
      const server = new WebServer({ ctx, log: webLog, metrics: metrics.web, registry, tickets });
      const address = await server.start();
      web = server;
      components.set('web', 'running', `${address}, public URL ${server.publicUrl}`);
      webLog.info({ address, publicUrl: server.publicUrl }, 'web server listening');
    } catch (err) {
      web = null;
      components.set('web', 'failed', err instanceof BerthError ? err.message : `could not listen on ${config['web.listen']}`, err);
      webLog.error({ err: String(err) }, 'web server did not start');
    }
  }
  await mkdir(outboxDir(home), { recursive: true, mode: 0o700 });
  // The bot last, and not waited for: a slow or unreachable Bot API never holds up the rest.
  // Queued notices are delivered once it is up (or known to be down).
  components.set('telegram', 'starting');
  let outbox: { close(): void } | null = null;
  const botStarting = startBot(
    ctx,
    home,
    config,
    log.child({ component: 'telegram' }),
    components,
    {
      book: tickets,
      running: webRunning,
    },
    agentRuns,
  ).then((bot) => {
    telegram = bot;
    if (bot) notifiers.push(bot.notifier);
    outbox = watchDir(
      outboxDir(home),
      (file) => file.endsWith('.json'),
      async () => {
        await drainOutbox(home, ctx.notifier);
      },
      (err) => notifyLog.error({ err: String(err) }, 'delivering queued notices failed'),
    );
  });
  // Log limits follow the config (berth config set log.max-size …) without a restart.
  const logConfig = logFile
    ? watchDir(
        home,
        (file) => file === 'state.json',
        async () => {
          logFile.setLimits(logLimits(effectiveConfig((await ctx.store.read()).config)));
        },
        () => undefined,
      )
    : null;
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
        await (web as WebServer | null)?.stop().catch(() => undefined);
        await botStarting.catch(() => undefined);
        (outbox as { close(): void } | null)?.close();
        logConfig?.close();
        await (telegram as TelegramBot | null)?.stop().catch(() => undefined);
        await agentRuns.stopAll().catch(() => undefined);
        await api.close().catch(() => undefined);
        await scheduler.stop().catch(() => undefined);
        await events.stop().catch(() => undefined);
        await nodeEvents.stop().catch(() => undefined);
        await firewall.stop().catch(() => undefined);
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
