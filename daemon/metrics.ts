import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { instanceFilter } from '../src/docker/labels.js';
import type { BackupEvent } from '../src/services/backups/schedule.js';
import type { Berth } from '../src/services/core/context.js';
import { clusterOf } from '../src/services/engine/cluster.js';
import { withDeadline } from '../src/services/engine/deadline.js';
import { NODE_DEADLINE_MS } from '../src/services/engine/engines.js';
import { type NodeUsage, nodeUsage } from '../src/services/nodes/nodes.js';
import { APP_STATUSES, type App, type State, USER_STATUSES } from '../src/state/schema.js';

export interface Metrics {
  registry: Registry;
  dockerEvents: Counter<'action'>;
  ssh: SshMetrics;
  web: WebMetrics;
  agent: AgentMetrics;
  chat: ChatMetrics;
  apps: AppMetrics;
  recordings: RecordingMetrics;
  backups: BackupMetrics;
  /** Times an operation the daemon runs and counts its outcome. */
  time<T>(operation: string, work: () => Promise<T>): Promise<T>;
}

/** The SSH gateway's counters: sessions by kind and outcome, open sessions, refused logins, bytes. */
export interface SshMetrics {
  sessions: Counter<'kind' | 'outcome'>;
  active: Gauge;
  authFailures: Counter<'reason'>;
  /** Connections dropped and channels refused by a limit, by reason. */
  drops: Counter<'reason'>;
  bytes: Counter<'direction'>;
}

/** The web server's counters: links, browser logins, sessions, requests refused. */
export interface WebMetrics {
  /** Links given (minted) and opened, by result (minted, spent, refused). */
  tickets: Counter<'result'>;
  /** Web terminals and app WebSockets ended, by kind (web-terminal, web-app) and outcome. */
  sessions: Counter<'kind' | 'outcome'>;
  active: Gauge;
  /** Requests and upgrades refused, by reason (no-session, not-owner, origin, limit, body-too-large…). */
  refusals: Counter<'reason'>;
  bytes: Counter<'direction'>;
}

/** Session recordings: bytes written, output frames dropped (the writer fell behind), recordings by how they ended. */
export interface RecordingMetrics {
  bytes: Counter;
  droppedFrames: Counter;
  recordings: Counter<'via' | 'end'>;
}

/**
 * Scheduled backups, one series per home scheduled (label `home`: the home's id, never a login);
 * a home deleted or no longer scheduled loses its series.
 */
export interface BackupMetrics {
  /** Takes what the backup runner reports. */
  observe(event: BackupEvent): void;
}

/** Agent runs from chat: by agent and outcome, open now, their length and the tokens they reported. */
export interface AgentMetrics {
  runs: Counter<'agent' | 'outcome'>;
  active: Gauge;
  seconds: Histogram<'agent'>;
  tokens: Counter<'agent' | 'direction'>;
}

/** The chat front-ends' counters, by front-end (telegram, discord). */
export interface ChatMetrics {
  updates: Counter<'frontend'>;
  sent: Counter<'frontend'>;
  edits: Counter<'frontend'>;
}

/**
 * Apps' builds, counted from the state file: a build runs in the CLI's process as often as in the
 * daemon's, and each records its last build in the app (`build`: at, seconds, outcome). The daemon
 * counts a build when it first sees an app's `build.at` change — when the state file changes (the
 * scheduler's watch) and at each scrape. What the first look finds (builds
 * before this daemon started) is taken as seen, not counted: a counter starts at 0 with its
 * process. Two builds of one app between two looks count once (the state keeps only the last).
 */
export interface AppMetrics {
  /** Looks at the apps' last builds in `state`, counting those not seen before. */
  observe(state: Pick<State, 'apps'>): void;
}

/** An app's last build, as the build counters saw it. */
export type SeenBuild = Pick<NonNullable<App['build']>, 'at' | 'seconds' | 'outcome'>;

/**
 * The builds in `apps` not in `seen` (by app id: its last build's time), and what is seen after
 * them; removed apps are forgotten. Pure: the counters are the caller's.
 */
export function newBuilds(
  seen: ReadonlyMap<string, string>,
  apps: ReadonlyArray<Pick<App, 'id' | 'build'>>,
): { builds: SeenBuild[]; seen: Map<string, string> } {
  const next = new Map<string, string>();
  const builds: SeenBuild[] = [];
  for (const app of apps) {
    if (!app.build) continue;
    next.set(app.id, app.build.at);
    if (seen.get(app.id) !== app.build.at) builds.push({ at: app.build.at, seconds: app.build.seconds, outcome: app.build.outcome });
  }
  return { builds, seen: next };
}

/** One front-end's share of the chat counters. */
export interface FrontEndCounters {
  updates: { inc(): void };
  sent: { inc(): void };
  edits: { inc(): void };
}

export function frontEndCounters(chat: ChatMetrics, frontend: 'telegram' | 'discord'): FrontEndCounters {
  return { updates: chat.updates.labels({ frontend }), sent: chat.sent.labels({ frontend }), edits: chat.edits.labels({ frontend }) };
}

/** One reading of the nodes serves every gauge of a scrape. */
const NODE_READING_MS = 1000;

export function createMetrics(ctx: Berth): Metrics {
  const registry = new Registry();
  let nodes: { at: number; value: Promise<Awaited<ReturnType<typeof nodeUsage>> | null> } | null = null;
  /** The nodes and their VMs (swarm mode; null in local mode or when the manager does not answer). */
  const swarm = async () => {
    if (!(await clusterOf(ctx))) return null;
    // A reading on its way serves; a finished one for NODE_READING_MS after it finished.
    if (!nodes || Date.now() - nodes.at > NODE_READING_MS) {
      const entry = {
        at: Number.POSITIVE_INFINITY,
        value: withDeadline(NODE_DEADLINE_MS * 3, 'read the Swarm nodes', () => nodeUsage(ctx))
          .catch(() => null)
          .finally(() => {
            entry.at = Date.now();
          }),
      };
      nodes = entry;
    }
    return nodes.value;
  };
  // The event-loop lag monitor samples every 10 ms by default: about 1 % of a core at rest.
  collectDefaultMetrics({ register: registry, prefix: 'berth_daemon_', eventLoopMonitoringPrecision: 1000 });
  new Gauge({
    name: 'berth_vms',
    help: 'VMs by engine state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const state = await ctx.store.read();
      if (await clusterOf(ctx)) {
        // Every node's VMs, as `vm list` reads them (a node that does not answer: its VMs node-down).
        const usage = await swarm();
        if (!usage) for (const _ of state.vms) this.inc({ state: 'unknown' });
        for (const vm of usage?.vms ?? []) this.inc({ state: vm.state });
        return;
      }
      const containers = await (await ctx.runtime()).containers(instanceFilter(state.instanceId)).catch(() => null);
      const byId = new Map((containers ?? []).map((c) => [c.id, c.state]));
      for (const vm of state.vms) {
        const s = containers === null ? 'unknown' : vm.phase === 'creating' ? 'creating' : (byId.get(vm.containerId ?? '') ?? 'missing');
        this.inc({ state: s });
      }
    },
  });
  // Swarm mode: one series per node (labelled by hostname) and state; nothing in local mode.
  const perNode = (name: string, help: string, value: (n: NodeUsage) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['node'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const n of (await swarm())?.nodes ?? []) this.set({ node: n.hostname }, value(n));
      },
    });
  perNode('berth_node_up', "Swarm mode: whether the node's engine answers (1) or not (0)", (n) => (n.up ? 1 : 0));
  perNode('berth_node_cpus', 'Swarm mode: CPUs of the node', (n) => n.cpus);
  perNode('berth_node_memory_bytes', 'Swarm mode: memory of the node', (n) => n.memoryBytes);
  perNode('berth_node_reserved_cpus', "Swarm mode: CPUs berth's VMs that should run on the node reserve", (n) => n.reserved.cpus);
  perNode(
    'berth_node_reserved_memory_bytes',
    "Swarm mode: memory berth's VMs that should run on the node reserve",
    (n) => n.reserved.memoryBytes,
  );
  new Gauge({
    name: 'berth_node_vms',
    help: "Swarm mode: berth's VMs on each node, by state (node-down: its engine does not answer)",
    labelNames: ['node', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const n of (await swarm())?.nodes ?? []) for (const [state, count] of n.vms) this.set({ node: n.hostname, state }, count);
    },
  });
  new Gauge({
    name: 'berth_users',
    help: 'Users by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      const state = await ctx.store.read();
      for (const status of USER_STATUSES) this.set({ status }, state.users.filter((u) => u.status === status).length);
    },
  });
  new Gauge({
    name: 'berth_apps',
    help: "Users' apps by status (as their records say: building, starting, running, restarting, stopped, crashed, failed)",
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const state = await ctx.store.read();
      apps.observe(state);
      for (const status of APP_STATUSES) this.set({ state: status }, (state.apps ?? []).filter((a) => a.status === status).length);
    },
  });
  new Gauge({
    name: 'berth_app_restarts',
    help: "Restarts after crashes of each user's apps, summed over their apps (each app's count starts over when it is deployed or started by hand)",
    labelNames: ['user'],
    registers: [registry],
    async collect() {
      this.reset();
      const byUser = new Map<string, number>();
      for (const app of (await ctx.store.read()).apps ?? []) byUser.set(app.user, (byUser.get(app.user) ?? 0) + app.restarts);
      for (const [user, restarts] of byUser) this.set({ user }, restarts);
    },
  });
  const appBuilds = new Counter({
    name: 'berth_app_builds_total',
    help: "Apps' builds the daemon saw recorded in the state file since it started, by outcome (ok, failed, timeout)",
    labelNames: ['outcome'],
    registers: [registry],
  });
  const appBuildSeconds = new Histogram({
    name: 'berth_app_build_seconds',
    help: "How long the apps' builds the daemon saw recorded took",
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800],
    registers: [registry],
  });
  // Every outcome from the start, at 0 (rate() then sees the first build).
  for (const outcome of ['ok', 'failed', 'timeout']) appBuilds.inc({ outcome }, 0);
  let seenBuilds: Map<string, string> | null = null;
  const apps: AppMetrics = {
    observe(state) {
      const found = newBuilds(seenBuilds ?? new Map(), state.apps ?? []);
      // The first look: what is there was built before this process (not counted).
      if (seenBuilds)
        for (const build of found.builds) {
          appBuilds.inc({ outcome: build.outcome });
          appBuildSeconds.observe(build.seconds);
        }
      seenBuilds = found.seen;
    },
  };
  const operations = new Counter({
    name: 'berth_operations_total',
    help: 'Operations run by the daemon',
    labelNames: ['operation', 'result'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'berth_operation_duration_seconds',
    help: 'How long daemon operations took',
    labelNames: ['operation'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const dockerEvents = new Counter({
    name: 'berth_docker_events_total',
    help: 'Docker events seen for berth VMs',
    labelNames: ['action'],
    registers: [registry],
  });
  const ssh: SshMetrics = {
    sessions: new Counter({
      name: 'berth_ssh_sessions_total',
      help: 'SSH gateway sessions ended, by kind (shell, exec, subsystem, forward) and outcome',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    active: new Gauge({ name: 'berth_ssh_sessions_active', help: 'SSH gateway sessions open now', registers: [registry] }),
    authFailures: new Counter({
      name: 'berth_ssh_auth_failures_total',
      help: 'SSH logins refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'berth_ssh_drops_total',
      help: 'SSH connections dropped and channels refused by a limit, by reason (penalty, per-source, startups-full, startups-early-drop, banner-timeout, login-grace, banned, user-connections, channel-rate)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'berth_ssh_bytes_total',
      help: 'Bytes through SSH gateway sessions (in: from clients, out: to clients)',
      labelNames: ['direction'],
      registers: [registry],
    }),
  };
  const web: WebMetrics = {
    tickets: new Counter({
      name: 'berth_web_tickets_total',
      help: 'One-time web links, by result (minted, spent, refused)',
      labelNames: ['result'],
      registers: [registry],
    }),
    sessions: new Counter({
      name: 'berth_web_sessions_total',
      help: 'Web terminals and web-app WebSockets ended, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    active: new Gauge({ name: 'berth_web_sessions_active', help: 'Web terminals and web-app WebSockets open now', registers: [registry] }),
    refusals: new Counter({
      name: 'berth_web_refusals_total',
      help: 'Web requests and upgrades refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'berth_web_bytes_total',
      help: 'Bytes through web terminals and web-app WebSockets (in: from browsers, out: to browsers)',
      labelNames: ['direction'],
      registers: [registry],
    }),
  };
  const agent: AgentMetrics = {
    runs: new Counter({
      name: 'berth_agent_runs_total',
      help: 'Agent runs ended, by agent and outcome (done, error, stopped, timeout)',
      labelNames: ['agent', 'outcome'],
      registers: [registry],
    }),
    active: new Gauge({ name: 'berth_agent_runs_active', help: 'Agent runs in progress now', registers: [registry] }),
    seconds: new Histogram({
      name: 'berth_agent_run_seconds',
      help: 'How long agent runs took',
      labelNames: ['agent'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'berth_agent_tokens_total',
      help: 'Tokens agent runs reported, by direction (in, out)',
      labelNames: ['agent', 'direction'],
      registers: [registry],
    }),
  };
  const chat: ChatMetrics = {
    updates: new Counter({
      name: 'berth_chat_updates_total',
      help: 'Updates (messages, commands, button presses) the chat bots received, by front-end',
      labelNames: ['frontend'],
      registers: [registry],
    }),
    sent: new Counter({
      name: 'berth_chat_messages_sent_total',
      help: 'Messages the chat bots sent, by front-end',
      labelNames: ['frontend'],
      registers: [registry],
    }),
    edits: new Counter({
      name: 'berth_chat_message_edits_total',
      help: 'Edits of messages the chat bots sent (streamed replies, progress), by front-end',
      labelNames: ['frontend'],
      registers: [registry],
    }),
  };
  return {
    registry,
    dockerEvents,
    ssh,
    web,
    agent,
    chat,
    apps,
    recordings: recordingMetrics(registry),
    backups: backupMetrics(registry),
    async time(operation, work) {
      const end = latency.startTimer({ operation });
      try {
        const result = await work();
        operations.inc({ operation, result: 'ok' });
        return result;
      } catch (err) {
        operations.inc({ operation, result: 'error' });
        throw err;
      } finally {
        end();
      }
    },
  };
}

/** The recording counters, in `registry` (none: counted, not exported — a gateway or web server run alone). */
export function recordingMetrics(registry?: Registry): RecordingMetrics {
  const registers = registry ? [registry] : [];
  return {
    bytes: new Counter({ name: 'berth_recording_bytes_total', help: 'Bytes written to session recordings', registers }),
    droppedFrames: new Counter({
      name: 'berth_recording_dropped_frames_total',
      help: 'Output frames left out of session recordings because the writer fell behind',
      registers,
    }),
    recordings: new Counter({
      name: 'berth_recordings_total',
      help: 'Session recordings made, by front-end (ssh, web) and how they ended (complete, cap, error, not-started)',
      labelNames: ['via', 'end'],
      registers,
    }),
  };
}

/** The scheduled backups' series in `registry`, fed by the runner's events. */
export function backupMetrics(registry: Registry, wallMs: () => number = Date.now): BackupMetrics {
  const labelNames = ['home'] as const;
  const lastSuccess = new Gauge({
    name: 'berth_backup_last_success_timestamp_seconds',
    help: "When each home's last snapshot was taken (unix seconds; from the repository at start-up, then from the daemon's runs)",
    labelNames,
    registers: [registry],
  });
  const lastDuration = new Gauge({
    name: 'berth_backup_last_duration_seconds',
    help: "How long each home's last scheduled backup took",
    labelNames,
    registers: [registry],
  });
  const bytesAdded = new Counter({
    name: 'berth_backup_bytes_added_total',
    help: "Bytes each home's scheduled backups added to the repository (after deduplication and compression)",
    labelNames,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'berth_backup_failures_total',
    help: "Each home's scheduled backups that failed",
    labelNames,
    registers: [registry],
  });
  const all = [lastSuccess, lastDuration, bytesAdded, failures];
  let known = new Set<string>();
  return {
    observe(event) {
      switch (event.kind) {
        case 'scheduled': {
          const next = new Set(event.homes);
          for (const home of known) if (!next.has(home)) for (const m of all) m.remove({ home });
          // Every home scheduled from the start, at 0 (rate() then sees the first failure).
          for (const home of next)
            if (!known.has(home)) {
              failures.inc({ home }, 0);
              bytesAdded.inc({ home }, 0);
            }
          known = next;
          return;
        }
        case 'loaded':
          for (const [home, ms] of event.last) if (known.has(home)) lastSuccess.set({ home }, Math.floor(ms / 1000));
          return;
        case 'backed-up':
          lastSuccess.set({ home: event.home.home }, Math.floor(wallMs() / 1000));
          lastDuration.set({ home: event.home.home }, event.result.seconds);
          bytesAdded.inc({ home: event.home.home }, event.result.bytesAdded);
          return;
        case 'failed':
          failures.inc({ home: event.home.home });
          return;
        default:
          return;
      }
    },
  };
}
