import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../src/errors.js';
import { packageRoot } from '../src/package-root.js';
import { backupWebLink } from '../src/services/access/backup-links.js';
import { recordingWebLink } from '../src/services/access/recording-links.js';
import { loadOrCreateHostKey } from '../src/services/access/ssh-host-key.js';
import { operatorAppWebLink } from '../src/services/access/user-app-web.js';
import { operatorWebLink, TicketBook } from '../src/services/access/web-links.js';
import { AgentRuns } from '../src/services/agents/agent-runs.js';
import type { daemonPaths } from '../src/services/control/daemon-control.js';
import type { AppWebLink, BackupLink, DaemonStatus, RecordingLink, WebLink } from '../src/services/control/daemon-routes.js';
import type { Berth } from '../src/services/core/context.js';
import { drainOutbox, outboxDir } from '../src/services/core/notice-spool.js';
import { fanOut, type Notifier } from '../src/services/core/notify.js';
import { openBerth } from '../src/services/engine/open.js';
import { LinkCodes } from '../src/services/people/link-codes.js';
import { readDiscordToken } from '../src/services/secrets/discord-token.js';
import { loadTelegramToken, type TokenSource } from '../src/services/secrets/telegram-token.js';
import { restoreHomes } from '../src/services/vm/homes.js';
import { type ConfigValues, effectiveConfig } from '../src/values/config-keys.js';
import { startApi } from './api.js';
import { ChatCore } from './chat/core.js';
import { Components } from './components.js';
import type { DiscordBot } from './discord/bot.js';
import { EventsFollower } from './events.js';
import { FirewallKeeper } from './firewall.js';
import type { RotatingLogFile } from './log-file.js';
import { createMetrics, frontEndCounters, type Metrics } from './metrics.js';
import { NodeEvents } from './node-events.js';
import { Recorder } from './recorder.js';
import { Scheduler } from './scheduler.js';
import { newSession, SessionRegistry } from './sessions.js';
import { SshGateway } from './ssh/server.js';
import { botDecision, listenFailure, type StartupPlan, type Step } from './startup-plan.js';
import { watchDir } from './state-watch.js';
import type { TelegramBot } from './telegram/bot.js';
import type { WebServer } from './web/server.js';

/** What stops a part that started (awaited when it answers a promise). */
export type Stop = () => unknown;

/** The daemon's parts and what they share, made before any of them starts. */
export interface Daemon {
  home: string;
  paths: ReturnType<typeof daemonPaths>;
  config: ConfigValues;
  log: Logger;
  logFile: RotatingLogFile | null;
  components: Components;
  ctx: Berth;
  /** Where notices go: the log, and the bot once it runs. */
  notifiers: Notifier[];
  notifyLog: Logger;
  metrics: Metrics;
  /** One list of open sessions, SSH and web: limits, the idle policy, berth sessions / kill. */
  registry: SessionRegistry;
  agentRuns: AgentRuns;
  /** One-time web links: minted by the bot and (through the control API) the CLI, spent by the web server. */
  tickets: TicketBook;
  /** Session recordings (SSH and web terminals), sessions.record. */
  recorder: Recorder;
  startedAt: Date;
  version: string;
  firewall: FirewallKeeper | null;
  gateway: SshGateway | null;
  web: WebServer | null;
  telegram: TelegramBot | null;
  discord: DiscordBot | null;
  /** The conversation both bots hold: made with the first bot that starts. */
  chat: ChatCore | null;
  /** The bots' starts, not waited for by the daemon: queued notices wait for them. */
  botsStarting: Promise<unknown>[];
}

/** The parts wired together; `plan.initial` is what `daemon status` shows until they start. */
export function wireDaemon(
  home: string,
  paths: Daemon['paths'],
  config: ConfigValues,
  log: Logger,
  logFile: RotatingLogFile | null,
  plan: StartupPlan,
): Daemon {
  const components = new Components();
  for (const c of plan.initial) components.set(c.name, c.state, c.detail);
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
  const metrics = createMetrics(ctx);
  const registry = new SessionRegistry();
  return {
    home,
    paths,
    config,
    log,
    logFile,
    components,
    ctx,
    notifiers,
    notifyLog,
    metrics,
    registry,
    agentRuns: agentRuns(ctx, log, metrics, registry),
    tickets: new TicketBook(),
    recorder: new Recorder({ home, log: log.child({ component: 'recorder' }), metrics: metrics.recordings }),
    startedAt: new Date(),
    version: JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string,
    firewall: null,
    gateway: null,
    web: null,
    telegram: null,
    discord: null,
    chat: null,
    botsStarting: [],
  };
}

/** The chat core the bots share. */
function chatCore(d: Daemon): ChatCore {
  d.chat ??= new ChatCore({
    ctx: d.ctx,
    log: d.log.child({ component: 'chat' }),
    web: { book: d.tickets, running: () => d.web !== null },
    agents: d.agentRuns,
    links: new LinkCodes(),
    recorder: d.recorder,
  });
  return d.chat;
}

/**
 * Agent runs from chat: listed with the sessions (the idle policy counts them, berth sessions
 * shows and kills them), each one audited in the log and the metrics.
 */
function agentRuns(ctx: Berth, log: Logger, metrics: Metrics, registry: SessionRegistry): AgentRuns {
  const agentLog = log.child({ component: 'agent' });
  return new AgentRuns(ctx, {
    track: (run) => {
      const session = newSession(
        { identity: { login: run.user, fingerprint: '' }, source: 'chat' },
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
}

/** Each step of the plan: it starts its part, and gives back what stops it (nothing for a one-off). */
export const STEPS: Record<Step, (d: Daemon) => Promise<Stop | undefined>> = {
  api: startControlApi,
  'pid-file': async (d) => {
    const pidTemp = `${d.paths.pidFile}.${process.pid}.tmp`;
    await writeFile(pidTemp, `${process.pid}\n`, { mode: 0o600 });
    await rename(pidTemp, d.paths.pidFile);
    return undefined;
  },
  firewall: async (d) => {
    // Re-applied when the engine comes back.
    const firewall = new FirewallKeeper(d.ctx, d.components, d.log.child({ component: 'firewall' }));
    d.firewall = firewall;
    await firewall.start();
    return () => firewall.stop();
  },
  homes: async (d) => {
    const restored = await restoreHomes(d.ctx).catch((err: unknown) => {
      d.log.error({ component: 'daemon', err: String(err) }, 'could not restore home disks');
      return null;
    });
    if (restored && restored.started.length + restored.failed.length > 0)
      d.log.info({ component: 'daemon', ...restored }, 'home disks restored');
    return undefined;
  },
  events: async (d) => {
    const events = new EventsFollower(d.ctx, d.components, d.log.child({ component: 'events' }), d.metrics, () => d.firewall?.kick());
    events.start();
    return () => events.stop();
  },
  nodes: async (d) => {
    const nodeEvents = new NodeEvents(d.ctx, d.components, d.log.child({ component: 'nodes' }), d.metrics, () => d.firewall?.kick());
    nodeEvents.start();
    return () => nodeEvents.stop();
  },
  scheduler: async (d) => {
    const sessions = (ref: string) => d.registry.countForVm(ref);
    const scheduler = new Scheduler(
      d.ctx,
      d.components,
      d.log.child({ component: 'scheduler' }),
      d.metrics,
      sessions,
      (config) => d.recorder.prune(config),
      async (notice) => {
        // The log always (where admins read it without a bot), and every admin on the bots that run.
        d.notifyLog.info({ user: 'admins', kind: 'backup-failed', home: notice.home, login: notice.login }, notice.text);
        await d.chat?.toAdmins(notice.text);
      },
    );
    scheduler.start();
    return () => scheduler.stop();
  },
  ssh: startGateway,
  web: startWeb,
  'outbox-dir': async (d) => {
    await mkdir(outboxDir(d.home), { recursive: true, mode: 0o700 });
    return undefined;
  },
  agents: async (d) => () => d.agentRuns.stopAll(),
  telegram: async (d) => startTelegramStep(d),
  discord: async (d) => startDiscordStep(d),
  'log-limits': async (d) => {
    const logFile = d.logFile;
    if (!logFile) return undefined;
    const watcher = watchDir(
      d.home,
      (file) => file === 'state.json',
      async () => {
        logFile.setLimits(logLimits(effectiveConfig((await d.ctx.store.read()).config)));
      },
      () => undefined,
    );
    return () => watcher.close();
  },
};

/** The log file's limits in the config (log.max-size, log.keep). */
export const logLimits = (c: ConfigValues) => ({ maxBytes: c['log.max-size'], keep: c['log.keep'] });

async function startControlApi(d: Daemon): Promise<Stop> {
  const { components, registry, paths } = d;
  const api = await startApi({
    socket: paths.socket,
    metricsListen: d.config['metrics.listen'],
    status: () => daemonStatus(d),
    metrics: d.metrics,
    telegram: () => {
      const c = components.list().find((x) => x.name === 'telegram');
      return { running: c?.state === 'running', detail: c?.detail, bot: d.telegram?.status() };
    },
    discord: () => {
      const c = components.list().find((x) => x.name === 'discord');
      return { running: c?.state === 'running', detail: c?.detail, bot: d.discord?.status() };
    },
    ssh: {
      sessions: () => registry.list(),
      kill: (id) => {
        const session = registry.get(id);
        session?.kill('this session was ended by the operator');
        return session !== undefined;
      },
      revalidate: async () => ((await d.gateway?.revalidate()) ?? 0) + ((await d.web?.revalidate()) ?? 0),
    },
    webLink: (ref, port, strip) => mintLink(d, ref, port, strip),
    appWebLink: (ref) => mintAppLink(d, ref),
    recordingLink: (id) => mintRecordingLink(d, id),
    backupLink: (home, snapshot) => mintBackupLink(d, home, snapshot),
    log: d.log,
  });
  components.set('api', 'running', `${paths.socket}${api.metricsAddress ? `, metrics on ${api.metricsAddress}` : ''}`);
  return () => api.close();
}

async function daemonStatus(d: Daemon): Promise<DaemonStatus> {
  const s = await d.ctx.store.read().catch(() => null);
  return {
    running: true,
    pid: process.pid,
    version: d.version,
    startedAt: d.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - d.startedAt.getTime()) / 1000),
    socket: d.paths.socket,
    components: d.components.list(),
    maintenance: s ? { on: s.maintenance.on, reason: s.maintenance.reason, until: s.maintenance.until } : null,
  };
}

async function mintLink(d: Daemon, ref: string, port?: string, strip?: boolean): Promise<WebLink> {
  if (d.web === null) {
    throw new BerthError(
      'WEB_NOT_RUNNING',
      "The daemon's web server is not running.",
      'See why with berth daemon status (component web); web.enabled turns it on.',
    );
  }
  return operatorWebLink(d.ctx, d.tickets, ref, port, strip);
}

async function mintAppLink(d: Daemon, ref: string): Promise<AppWebLink> {
  if (d.web === null) {
    throw new BerthError(
      'WEB_NOT_RUNNING',
      "The daemon's web server is not running.",
      'See why with berth daemon status (component web); web.enabled turns it on.',
    );
  }
  return operatorAppWebLink(d.ctx, d.tickets, ref);
}

/** The operator's link to a recording's replay page (viewer null: the operator, any recording). */
async function mintRecordingLink(d: Daemon, id: string): Promise<RecordingLink> {
  if (d.web === null) {
    throw new BerthError(
      'WEB_NOT_RUNNING',
      "The daemon's web server is not running.",
      'See why with berth daemon status (component web); web.enabled turns it on.',
    );
  }
  return recordingWebLink(d.ctx, d.tickets, id, null);
}

/** The operator's link that downloads a snapshot of a home (any home's). */
async function mintBackupLink(d: Daemon, home: string, snapshot: string): Promise<BackupLink> {
  if (d.web === null) {
    throw new BerthError(
      'WEB_NOT_RUNNING',
      "The daemon's web server is not running.",
      'See why with berth daemon status (component web); web.enabled turns it on.',
    );
  }
  return backupWebLink(d.ctx, d.tickets, { home, snapshot }, null);
}

/** The SSH gateway; one that cannot listen is shown failed and the rest of the daemon runs on. */
async function startGateway(d: Daemon): Promise<Stop | undefined> {
  const sshLog = d.log.child({ component: 'ssh' });
  try {
    const hostKey = await loadOrCreateHostKey(d.home);
    const { ctx, metrics, registry } = d;
    d.gateway = new SshGateway({
      ctx,
      log: sshLog,
      metrics: metrics.ssh,
      listen: d.config['ssh.listen'],
      hostKey,
      registry,
      recorder: d.recorder,
    });
    const address = await d.gateway.start();
    d.components.set('ssh', 'running', `${address}, host key ${hostKey.fingerprint}`);
    sshLog.info({ address, hostKey: hostKey.fingerprint }, 'ssh gateway listening');
  } catch (err) {
    d.gateway = null;
    d.components.set('ssh', 'failed', listenFailure(err, d.config['ssh.listen']), err);
    sshLog.error({ err: String(err) }, 'ssh gateway did not start');
  }
  return async () => d.gateway?.stop();
}

/** The web server, likewise. */
async function startWeb(d: Daemon): Promise<Stop | undefined> {
  const webLog = d.log.child({ component: 'web' });
  try {
    const { WebServer } = await import('./web/server.js');
    const server = new WebServer({
      ctx: d.ctx,
      log: webLog,
      metrics: d.metrics.web,
      registry: d.registry,
      tickets: d.tickets,
      recorder: d.recorder,
    });
    const address = await server.start();
    d.web = server;
    d.components.set('web', 'running', `${address}, public URL ${server.publicUrl}`);
    webLog.info({ address, publicUrl: server.publicUrl }, 'web server listening');
  } catch (err) {
    d.web = null;
    d.components.set('web', 'failed', listenFailure(err, d.config['web.listen']), err);
    webLog.error({ err: String(err) }, 'web server did not start');
  }
  return async () => d.web?.stop();
}

/** The Telegram bot, not waited for. Its stop waits for its start, then stops the bot. */
function startTelegramStep(d: Daemon): Stop {
  d.components.set('telegram', 'starting');
  const starting = startTelegramBot(d, d.log.child({ component: 'telegram' })).then((bot) => {
    d.telegram = bot;
    if (bot) d.notifiers.push(chatCore(d).notifier('telegram'));
  });
  d.botsStarting.push(starting);
  return async () => {
    await starting.catch(() => undefined);
    await d.telegram?.stop();
  };
}

/**
 * The Discord bot, not waited for; queued notices are delivered once both bots are up (or known
 * to be down). Its stop waits for its start, then stops the outbox and the bot.
 */
function startDiscordStep(d: Daemon): Stop {
  d.components.set('discord', 'starting');
  let outbox: { close(): void } | null = null;
  const starting = startDiscordBot(d, d.log.child({ component: 'discord' })).then((bot) => {
    d.discord = bot;
    if (bot) d.notifiers.push(chatCore(d).notifier('discord'));
  });
  d.botsStarting.push(starting);
  const ready = Promise.allSettled(d.botsStarting).then(() => {
    outbox = watchDir(
      outboxDir(d.home),
      (file) => file.endsWith('.json'),
      async () => {
        await drainOutbox(d.home, d.ctx.notifier);
      },
      (err) => d.notifyLog.error({ err: String(err) }, 'delivering queued notices failed'),
    );
  });
  return async () => {
    await ready;
    (outbox as { close(): void } | null)?.close();
    await d.discord?.stop();
    d.chat?.stop();
  };
}

/** A bot when a token is configured; a bot that cannot start leaves the rest of the daemon running. */
async function startChatBot<B>(
  d: Daemon,
  name: 'telegram' | 'discord',
  log: Logger,
  load: () => Promise<{ token: string; source: TokenSource } | null>,
  start: (token: { token: string; source: TokenSource }) => Promise<{ bot: B; detail: string }>,
): Promise<B | null> {
  const { components } = d;
  const token = await load().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  const decision = botDecision(token, name);
  if (!decision.start) {
    components.set(name, decision.state, decision.detail, decision.state === 'failed' ? token : undefined);
    return null;
  }
  components.set(name, 'starting');
  try {
    const { bot, detail } = await start(decision.token);
    components.set(name, 'running', detail);
    return bot;
  } catch (err) {
    const message = err instanceof BerthError ? err.message : String(err);
    log.error({ err: message }, `the ${name} bot could not start`);
    components.set(name, 'failed', message, message);
    return null;
  }
}

function startTelegramBot(d: Daemon, log: Logger): Promise<TelegramBot | null> {
  return startChatBot(
    d,
    'telegram',
    log,
    () => loadTelegramToken(d.home),
    async (token) => {
      // Loaded only when there is a bot to run: grammY is not needed otherwise.
      const { startTelegram } = await import('./telegram/bot.js');
      const bot = await startTelegram({
        core: chatCore(d),
        home: d.home,
        log,
        token: token.token,
        tokenSource: token.source,
        config: d.config,
        counters: frontEndCounters(d.metrics.chat, 'telegram'),
        onFailure: (message) => d.components.set('telegram', 'failed', message, message),
      });
      const s = bot.status();
      return { bot, detail: `@${s.username}, ${s.mode}, token from ${s.tokenSource}` };
    },
  );
}

function startDiscordBot(d: Daemon, log: Logger): Promise<DiscordBot | null> {
  return startChatBot(
    d,
    'discord',
    log,
    () => readDiscordToken(d.home),
    async (token) => {
      // Loaded only when there is a bot to run: discord.js is not needed otherwise.
      const { startDiscord } = await import('./discord/bot.js');
      const bot = await startDiscord({
        core: chatCore(d),
        log,
        token: token.token,
        tokenSource: token.source,
        config: d.config,
        counters: frontEndCounters(d.metrics.chat, 'discord'),
        onFailure: (message) => d.components.set('discord', 'failed', message, message),
      });
      const s = bot.status();
      return { bot, detail: `${s.username}, ${s.guilds} guild(s), token from ${s.tokenSource}` };
    },
  );
}
