import { Writable } from 'node:stream';
import { appRef } from '../domain/apps.js';
import { usersOnPlan, vmRef } from '../domain/lookups.js';
import { resourcesFor } from '../domain/policies.js';
import { BerthError, type ErrorCode } from '../errors.js';
import { appLogText, restartApp, startApp, stopApp } from '../services/apps/apps.js';
import { daemonStatus } from '../services/control/daemon-control.js';
import type { DaemonStatus } from '../services/control/daemon-routes.js';
import { sessionCounts } from '../services/control/ssh-sessions.js';
import type { Berth } from '../services/core/context.js';
import { clusterOf, requireCluster } from '../services/engine/cluster.js';
import { withDeadline } from '../services/engine/deadline.js';
import { type EngineHost, engineHost, type HostSummary, hostSummary } from '../services/engine/host.js';
import { watchEngine } from '../services/nodes/engine-watch.js';
import { enterMaintenance, leaveMaintenance, type MaintenanceStatus, maintenanceStatus } from '../services/nodes/maintenance.js';
import { listNodes } from '../services/nodes/nodes.js';
import { approveUser, rejectUser, revokeUser, setUser } from '../services/people/users.js';
import type { BulkProgress } from '../services/vm/vm-bulk.js';
import { latestVmEvents } from '../services/vm/vm-event-log.js';
import { vmLogs } from '../services/vm/vm-exec.js';
import { vmLiveStats } from '../services/vm/vm-live-stats.js';
import { imageAgentNames, listVms } from '../services/vm/vm-status.js';
import { destroyVm, restartVm, startVm, stopVm } from '../services/vm/vms.js';
import type { AppStatus, State, UserStatus, VmEventEntry } from '../state/schema.js';
import type { StateStore } from '../state/store.js';
import { effectiveConfig } from '../values/config-keys.js';
import type { NodeView } from '../views/node-view.js';
import { type VmView, vmView } from '../views/vm-view.js';

/** A VM as the VMs tab shows it: the view of `vm list`, with live numbers when it runs (they come apart, see `liveStats`). */
export interface VmRow extends VmView {
  cpuPercent: number | null;
  memoryUsedBytes: number | null;
  memoryLimitBytes: number | null;
  /** Open SSH sessions; null when nobody can tell (no daemon, or no SSH gateway). */
  sessions: number | null;
  /** From the state file alone: the engine has not said yet what state it is in (the first screen). */
  pending?: boolean;
  /** Agent runs in progress in it (from chat); null when no daemon can tell. */
  agentRuns?: number | null;
  /** On Swarm: the hostname of its node (the manager's for a VM made before swarm mode). */
  nodeName?: string | null;
}

/** Live numbers of a running VM; CPU is null until there are two readings. */
export interface LiveVm {
  cpuPercent: number | null;
  memoryUsedBytes: number;
  memoryLimitBytes: number;
}

export interface UserRow {
  login: string;
  status: UserStatus;
  role: 'user' | 'admin';
  plan: string;
  telegramId: number | null;
  discordId: string | null;
  keys: number;
  vms: number;
}

/** An app as the Apps tab shows it: its record's status and limits, with live numbers when it runs. */
export interface AppRow {
  /** USER/NAME. */
  ref: string;
  user: string;
  name: string;
  status: AppStatus;
  desired: 'running' | 'stopped';
  /** Restarts after crashes since it was deployed or started by hand. */
  restarts: number;
  /** When it was last started (its uptime while it runs). */
  startedAt: string | null;
  stopReason: string | null;
  cpu: number;
  ramBytes: number;
  cpuPercent: number | null;
  memoryUsedBytes: number | null;
  memoryLimitBytes: number | null;
}

/** The key of an app's live numbers (beside the VMs' refs, which an app's USER/NAME could equal). */
export const appStatsKey = (ref: string) => `app:${ref}`;

export interface PlanRow {
  name: string;
  cpu: number;
  ramBytes: number;
  gpu: number | 'all';
  maxVms: number;
  maxLifetimeSeconds: number;
  sudo: boolean;
  description: string;
  users: string[];
}

/**
 * Whether the engine answers: `up`; `down` when it was asked and did not answer (the header then
 * says unreachable); `waiting` while the first answer is still on its way.
 */
export type EngineReach = 'up' | 'down' | 'waiting';

/** Everything one refresh of the dashboard shows. A part that could not be read is null, with why in `problems`. */
export interface Snapshot {
  at: Date;
  host: HostSummary | null;
  engine: EngineReach;
  daemon: DaemonStatus;
  maintenance: MaintenanceStatus;
  /** The rows without live numbers (those come from `liveStats`). */
  vms: VmRow[] | null;
  users: UserRow[];
  plans: PlanRow[];
  events: VmEventEntry[];
  /** On Swarm: its nodes, as `berth node list` shows them; null (or absent) on one engine. */
  nodes?: NodeView[] | null;
  /** Users' apps, from the state file (without live numbers: those come from `liveStats`, keyed by `appStatsKey`). */
  apps?: AppRow[];
  problems: string[];
}

/**
 * Where the TUI reads from and acts through. The real one calls berth's services;
 * component tests hand the app a fake one. Its reads are bounded by its own deadlines (and the
 * services'): the app's hooks wait for each read without deadlines of their own.
 */
export interface DataSource {
  /** What the screens show, from calls whose cost does not grow per VM (the state file, one container list). */
  snapshot(): Promise<Snapshot>;
  /**
   * The screens from the state file alone, before the engine is asked (the VMs' states pending):
   * what the first screen shows while the first `snapshot` waits for the engine.
   */
  quick?(): Promise<Snapshot>;
  /**
   * Live numbers of running VMs (and apps, by `appStatsKey`), by ref: `visible` (the rows on screen) are read first and every
   * time, `others` as the source can afford. Never waited for by `snapshot`.
   */
  liveStats(visible: string[], others: string[]): Promise<Map<string, LiveVm>>;
  startVm(ref: string): Promise<void>;
  stopVm(ref: string): Promise<void>;
  restartVm(ref: string): Promise<void>;
  destroyVm(ref: string, keepData: boolean): Promise<void>;
  approveUser(login: string): Promise<void>;
  rejectUser(login: string): Promise<void>;
  revokeUser(login: string): Promise<void>;
  setUserPlan(login: string, plan: string): Promise<void>;
  startApp(ref: string): Promise<void>;
  stopApp(ref: string): Promise<void>;
  restartApp(ref: string): Promise<void>;
  /** The last `lines` lines of an app's output (an app that never ran: an error saying so). */
  appLogs(ref: string, lines: number): Promise<string>;
  /** `onProgress` hears how far the stops are (`120/500`). */
  maintenanceOn(onProgress?: (text: string) => void): Promise<string>;
  maintenanceOff(onProgress?: (text: string) => void): Promise<string>;
  /** Follows a VM's logs (the last `tail` lines, then new ones); returns how to stop. Its opening has a deadline. */
  followLogs(ref: string, tail: number, onText: (text: string) => void, onEnd: (error?: Error) => void): Promise<() => void>;
  /** Lets go of what it holds (stats streams). */
  close?(): void;
}

/** How long the nodes (and whether each engine answers) are kept; they are read again in the background. */
const NODES_MS = 10_000;
/** How long the engine's host info is kept. */
const ENGINE_HOST_MS = 30_000;
/** How long a snapshot waits for the engine's host info before it shows the rest without it. */
const ENGINE_WAIT_MS = 500;
/** Longest a read of live numbers may take; past it the next one is asked. */
const LIVE_STATS_MS = 10_000;
/** Longest the opening of a VM's logs may take; past it the logs pane says so (and can be opened again). */
const OPEN_LOGS_MS = 10_000;

const why = (what: string, err: unknown) => `${what}: ${(err as Error).message.split('\n')[0]}`;
const UNREACHABLE = new Set<ErrorCode>(['DOCKER_UNREACHABLE', 'DOCKER_DENIED', 'INVALID_DOCKER_HOST']);
const unreachable = (err: unknown) => err instanceof BerthError && UNREACHABLE.has(err.code);

/** `ctx` whose state is read once, at the first read, for all that asks it (one snapshot's parts). */
function oneReading(ctx: Berth): Berth {
  let reading: Promise<State> | undefined;
  const once = () => (reading ??= ctx.store.read());
  const store: StateStore = Object.create(ctx.store, { read: { value: once }, snapshot: { value: once } });
  return { ...ctx, store };
}

/** The data source over berth's services (and the daemon's API for what only it knows). */
export function berthDataSource(ctx: Berth): DataSource {
  const home = ctx.store.home;
  // The engine's name, version and size hardly change: read again every ENGINE_HOST_MS, or after a failure.
  let engine: { at: number; value: Promise<EngineHost>; settled: boolean } | null = null;
  const cachedEngine = (): { value: Promise<EngineHost>; settled: boolean } => {
    if (!engine || Date.now() - engine.at > ENGINE_HOST_MS) {
      const value = engineHost(ctx);
      const entry = { at: Date.now(), value, settled: false };
      engine = entry;
      value.then(
        () => {
          entry.settled = true;
        },
        () => {
          entry.settled = true;
          if (engine === entry) engine = null;
        },
      );
    }
    return engine;
  };
  // The nodes and whether each one's engine answers (a deadline each): read every NODES_MS, never holding a refresh up for long.
  let nodesRead: { at: number; value: Promise<NodeView[]> } | null = null;
  let nodesKnown: NodeView[] | null = null;
  const nodesNow = async (): Promise<NodeView[] | null> => {
    if (!(await clusterOf(ctx))) return null;
    if (!nodesRead || Date.now() - nodesRead.at > NODES_MS) {
      const value = listNodes(ctx, { check: true });
      nodesRead = { at: Date.now(), value };
      value.then(
        (list) => {
          nodesKnown = list;
        },
        () => {
          nodesRead = null;
        },
      );
    }
    const waited = await Promise.race([
      nodesRead.value.catch(() => null),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), ENGINE_WAIT_MS).unref()),
    ]);
    return waited ?? nodesKnown ?? [];
  };
  const live = vmLiveStats(ctx);
  const engineWatch = watchEngine(ctx);
  const acted = async (action: Promise<unknown>): Promise<void> => {
    try {
      await action;
    } finally {
      engineWatch.changed();
    }
  };
  /** Container ids of the running VMs of the last snapshot, by ref. */
  let containers = new Map<string, { containerId: string; node?: string }>();
  /** The reading `quick` made, which the next snapshot takes over (the state is then read once for both). */
  let primed: Berth | undefined;
  /** The agents each image has, read once per image (images do not change under a tag's id). */
  const imageAgents = new Map<string, Promise<string[] | null>>();
  const agentsOf = (image: string): Promise<string[] | null> => {
    let known = imageAgents.get(image);
    if (!known) {
      known = imageAgentNames(ctx, image).catch(() => null);
      if (imageAgents.size < 1000) imageAgents.set(image, known);
    }
    return known;
  };
  return {
    async quick() {
      const view = oneReading(ctx);
      primed = view;
      const [state, maintenance, daemon] = await Promise.all([view.store.read(), maintenanceStatus(view), daemonStatus(home)]);
      return {
        at: new Date(),
        host: null,
        engine: 'waiting',
        daemon,
        maintenance,
        vms: state.vms.map(
          (vm): VmRow => ({
            ...vmView(vm, 'missing'),
            pending: true,
            cpuPercent: null,
            memoryUsedBytes: null,
            memoryLimitBytes: null,
            sessions: null,
          }),
        ),
        users: userRows(state),
        plans: planRows(state),
        events: [],
        // The Nodes tab from the first screen on (its rows come with the first snapshot).
        nodes: (await clusterOf(view)) ? [] : null,
        apps: appRows(state),
        problems: [],
      };
    },
    async snapshot() {
      // Every part of one snapshot from one reading of the state: they agree with one another, and it is read once.
      const view = primed ?? oneReading(ctx);
      primed = undefined;
      const problems: string[] = [];
      let reach: EngineReach = 'waiting';
      const soft =
        <T>(what: string, fallback: T) =>
        (err: unknown) => {
          if (unreachable(err)) reach = 'down';
          problems.push(why(what, err));
          return fallback;
        };
      const host = async (): Promise<HostSummary | null> => {
        const cached = cachedEngine();
        // A slow first answer does not hold the screen: the next refresh has it.
        const known = cached.settled
          ? cached.value
          : Promise.race([cached.value, new Promise<null>((resolve) => setTimeout(() => resolve(null), ENGINE_WAIT_MS).unref())]);
        const value = await known;
        return value ? hostSummary(view, Promise.resolve(value)) : null;
      };
      const [state, maintenance, daemon, summary, views, sessions, events] = await Promise.all([
        view.store.read(),
        maintenanceStatus(view),
        daemonStatus(home),
        host().catch(soft('Docker engine', null)),
        // One container list for every VM, whatever their number, and only after the engine's events
        // said something changed; the live numbers come apart.
        engineWatch
          .reading(view)
          .then((reading) => listVms(view, { all: true }, reading))
          .catch(soft('VMs', null)),
        sessionCounts(home),
        latestVmEvents(view),
      ]);
      const runs = sessions?.agent ?? null;
      const nodes = await nodesNow().catch(soft('Swarm nodes', []));
      // A VM without a node (made before swarm mode) is on the manager's engine.
      const self = nodes
        ? await (await requireCluster(ctx)).manager().then(
            (m) => m.nodeId,
            () => undefined,
          )
        : undefined;
      const hostnames = new Map((nodes ?? []).map((n) => [n.id, n.hostname]));
      const agentsByImage = new Map<string, string[] | null>();
      for (const image of new Set((views ?? []).map((v) => v.image))) agentsByImage.set(image, await agentsOf(image));
      if (summary || views) reach = 'up';
      // The full container ids (views show short ones): the cgroup files are named by them.
      const running = new Set((views ?? []).filter((v) => v.state === 'running').map((v) => v.ref));
      containers = new Map([
        ...state.vms.flatMap((vm) =>
          vm.containerId && running.has(vmRef(vm)) ? [[vmRef(vm), { containerId: vm.containerId, node: vm.node }] as const] : [],
        ),
        // Apps as their records say (the daemon follows their containers' events into them).
        ...(state.apps ?? []).flatMap((app) =>
          app.containerId && app.status === 'running'
            ? [[appStatsKey(appRef(app)), { containerId: app.containerId, node: app.node }] as const]
            : [],
        ),
      ]);
      const vms = views?.map(
        (view): VmRow => ({
          ...view,
          cpuPercent: null,
          memoryUsedBytes: null,
          memoryLimitBytes: null,
          sessions: sessions ? (sessions.ssh.get(view.ref) ?? 0) : null,
          ...(agentsByImage.get(view.image) ? { agents: agentsByImage.get(view.image) as string[] } : {}),
          agentRuns: runs ? (runs.get(view.ref) ?? 0) : null,
          ...(nodes ? { nodeName: hostnames.get(view.node ?? self ?? '') ?? view.node } : {}),
        }),
      );
      return {
        at: new Date(),
        host: summary,
        engine: reach,
        daemon,
        maintenance,
        vms: vms ?? null,
        users: userRows(state),
        plans: planRows(state),
        events,
        nodes,
        apps: appRows(state),
        problems,
      };
    },
    async liveStats(visible, others) {
      const known = (refs: string[]) =>
        refs.flatMap((ref) => {
          const c = containers.get(ref);
          return c ? [{ ref, containerId: c.containerId, ...(c.node ? { node: c.node } : {}) }] : [];
        });
      const read = await withDeadline(LIVE_STATS_MS, "give the VMs' numbers", () => live.read(known(visible), known(others)));
      return new Map(
        [...read].map(([ref, s]) => [
          ref,
          { cpuPercent: s.cpuPercent, memoryUsedBytes: s.memoryUsedBytes, memoryLimitBytes: s.memoryLimitBytes },
        ]),
      );
    },
    close: () => {
      live.close();
      engineWatch.close();
    },
    // What the app does to VMs shows at the next refresh, without waiting for the engine's events.
    startVm: (ref) => acted(startVm(ctx, ref)),
    stopVm: (ref) => acted(stopVm(ctx, ref)),
    restartVm: (ref) => acted(restartVm(ctx, ref)),
    destroyVm: (ref, keepData) => acted(destroyVm(ctx, ref, { keepData })),
    startApp: async (ref) => void (await startApp(ctx, ref)),
    stopApp: async (ref) => void (await stopApp(ctx, ref)),
    restartApp: async (ref) => void (await restartApp(ctx, ref)),
    appLogs: (ref, lines) => withDeadline(OPEN_LOGS_MS, `read the output of the app ${ref}`, () => appLogText(ctx, ref, lines)),
    approveUser: async (login) => void (await approveUser(ctx, login)),
    rejectUser: async (login) => void (await rejectUser(ctx, login)),
    revokeUser: async (login) => void (await revokeUser(ctx, login)),
    setUserPlan: async (login, plan) => void (await setUser(ctx.store, login, { plan })),
    async maintenanceOn(onProgress) {
      const result = await enterMaintenance(ctx, {
        reason: 'from berth tui',
        onProgress: progressText('stopping VMs', onProgress),
      }).finally(engineWatch.changed);
      return `maintenance on; stopped ${result.changed.length} VM(s)${result.failed.length ? `, ${result.failed.length} failed` : ''}`;
    },
    async maintenanceOff(onProgress) {
      const result = await leaveMaintenance(ctx, { onProgress: progressText('starting VMs', onProgress) }).finally(engineWatch.changed);
      return `maintenance off; started ${result.changed.length} VM(s)${result.failed.length ? `, ${result.failed.length} failed` : ''}`;
    },
    async followLogs(ref, tail, onText, onEnd) {
      const { stream, demux } = await withDeadline(OPEN_LOGS_MS, `open the logs of ${ref}`, () => vmLogs(ctx, ref, { follow: true, tail }));
      const sink = new Writable({
        write(chunk, _encoding, done) {
          onText(String(chunk));
          done();
        },
      });
      demux(sink, sink);
      let stopped = false;
      const end = (error?: Error) => {
        if (!stopped) onEnd(error);
        stopped = true;
      };
      stream.once('end', () => end());
      stream.once('close', () => end());
      // `on`, not `once`: a second error (a destroyed stream can emit more) must not go unhandled.
      stream.on('error', (err: Error) => end(err));
      return () => {
        stopped = true;
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      };
    },
  };
}

function userRows(state: State): UserRow[] {
  const vmsOf = new Map<string, number>();
  for (const vm of state.vms) vmsOf.set(vm.user, (vmsOf.get(vm.user) ?? 0) + 1);
  return state.users.map((u) => ({
    login: u.login,
    status: u.status,
    role: u.role,
    plan: u.plan,
    telegramId: u.telegramId ?? null,
    discordId: u.discordId ?? null,
    keys: u.keys.length,
    vms: vmsOf.get(u.login) ?? 0,
  }));
}

function appRows(state: State): AppRow[] {
  return (state.apps ?? []).map((app) => ({
    ref: appRef(app),
    user: app.user,
    name: app.name,
    status: app.status,
    desired: app.desired,
    restarts: app.restarts,
    startedAt: app.startedAt ?? null,
    stopReason: app.stopReason ?? null,
    cpu: app.resources.cpu,
    ramBytes: app.resources.memoryBytes,
    cpuPercent: null,
    memoryUsedBytes: null,
    memoryLimitBytes: null,
  }));
}

function planRows(state: State): PlanRow[] {
  const cfg = effectiveConfig(state.config);
  return state.plans.map((p) => {
    // What a VM of the plan gets: the plan's own CPU and RAM, or the config's.
    const resources = resourcesFor(p, cfg);
    return {
      name: p.name,
      cpu: resources.cpu,
      ramBytes: resources.memoryBytes,
      gpu: p.gpu,
      maxVms: p.maxVms,
      maxLifetimeSeconds: p.maxLifetimeSeconds,
      sudo: p.sudo,
      description: p.description,
      users: usersOnPlan(state, p.name),
    };
  });
}

function progressText(verb: string, onProgress?: (text: string) => void): BulkProgress | undefined {
  return onProgress && (({ done, total, failed }) => onProgress(`${verb}: ${done}/${total}${failed ? `, ${failed} failed` : ''}`));
}
