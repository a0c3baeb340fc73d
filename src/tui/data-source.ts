import { Writable } from 'node:stream';
import { usersOnPlan } from '../domain/lookups.js';
import type { Berth } from '../services/context.js';
import { daemonStatus } from '../services/daemon-control.js';
import type { DaemonStatus } from '../services/daemon-routes.js';
import { type EngineHost, engineHost, type HostSummary, hostSummary } from '../services/host.js';
import { enterMaintenance, leaveMaintenance, type MaintenanceStatus, maintenanceStatus } from '../services/maintenance.js';
import { listPlans } from '../services/plans.js';
import { sshSessionCounts } from '../services/ssh-sessions.js';
import { approveUser, listUsers, rejectUser, revokeUser, setUser } from '../services/users.js';
import { latestVmEvents } from '../services/vm-event-log.js';
import { statsOfRunning, vmLogs } from '../services/vm-exec.js';
import { listVms } from '../services/vm-status.js';
import { destroyVm, restartVm, startVm, stopVm } from '../services/vms.js';
import type { UserStatus, VmEventEntry } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';
import type { VmView } from '../views/vm-view.js';

/** A VM as the VMs tab shows it: the view of `vm list`, with live numbers when it runs. */
export interface VmRow extends VmView {
  cpuPercent: number | null;
  memoryUsedBytes: number | null;
  memoryLimitBytes: number | null;
  /** Open SSH sessions; null when nobody can tell (no daemon, or no SSH gateway). */
  sessions: number | null;
}

export interface UserRow {
  login: string;
  status: UserStatus;
  role: 'user' | 'admin';
  plan: string;
  telegramId: number | null;
  keys: number;
  vms: number;
}

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

/** Everything one refresh of the dashboard shows. A part that could not be read is null, with why in `problems`. */
export interface Snapshot {
  at: Date;
  host: HostSummary | null;
  daemon: DaemonStatus;
  maintenance: MaintenanceStatus;
  vms: VmRow[] | null;
  users: UserRow[];
  plans: PlanRow[];
  events: VmEventEntry[];
  problems: string[];
}

/**
 * Where the TUI reads from and acts through. The real one calls berth's services;
 * component tests hand the app a fake one.
 */
export interface DataSource {
  snapshot(): Promise<Snapshot>;
  startVm(ref: string): Promise<void>;
  stopVm(ref: string): Promise<void>;
  restartVm(ref: string): Promise<void>;
  destroyVm(ref: string, keepData: boolean): Promise<void>;
  approveUser(login: string): Promise<void>;
  rejectUser(login: string): Promise<void>;
  revokeUser(login: string): Promise<void>;
  setUserPlan(login: string, plan: string): Promise<void>;
  maintenanceOn(): Promise<string>;
  maintenanceOff(): Promise<string>;
  /** Follows a VM's logs (the last `tail` lines, then new ones); returns how to stop. */
  followLogs(ref: string, tail: number, onText: (text: string) => void, onEnd: (error?: Error) => void): Promise<() => void>;
}

/** How long the engine's host info is kept. */
const ENGINE_HOST_MS = 30_000;
/** Docker calls at a time for the VMs' stats. */
const DOCKER_CONCURRENCY = 8;

const why = (what: string, err: unknown) => `${what}: ${(err as Error).message.split('\n')[0]}`;

/** The data source over berth's services (and the daemon's API for what only it knows). */
export function berthDataSource(ctx: Berth): DataSource {
  const home = ctx.store.home;
  // The engine's name, version and size hardly change: read again every ENGINE_HOST_MS, or after a failure.
  let engine: { at: number; value: Promise<EngineHost> } | null = null;
  const cachedEngine = (): Promise<EngineHost> => {
    if (!engine || Date.now() - engine.at > ENGINE_HOST_MS) {
      const value = engineHost(ctx);
      const entry = { at: Date.now(), value };
      engine = entry;
      value.catch(() => {
        if (engine === entry) engine = null;
      });
    }
    return engine.value;
  };
  return {
    async snapshot() {
      const problems: string[] = [];
      const soft =
        <T>(what: string, fallback: T) =>
        (err: unknown) => {
          problems.push(why(what, err));
          return fallback;
        };
      const [state, maintenance, daemon, host, views, sessions, events] = await Promise.all([
        ctx.store.read(),
        maintenanceStatus(ctx),
        daemonStatus(home),
        hostSummary(ctx, cachedEngine()).catch(soft('Docker engine', null)),
        // Inspects each VM once; the stats below are asked only of those it found running.
        listVms(ctx, { all: true }).catch(soft('VMs', null)),
        sshSessionCounts(home),
        latestVmEvents(ctx),
      ]);
      const running = (views ?? []).filter((v) => v.state === 'running').map((v) => v.ref);
      const stats = running.length ? await statsOfRunning(ctx, running, DOCKER_CONCURRENCY).catch(soft('stats', null)) : null;
      const failed = [...(stats?.values() ?? [])].filter((r) => r.status === 'rejected');
      if (failed[0]?.status === 'rejected') problems.push(why(`stats of ${failed.length} VM(s)`, failed[0].reason));
      const vms = views?.map((view): VmRow => {
        const result = view.state === 'running' ? stats?.get(view.ref) : undefined;
        const s = result?.status === 'fulfilled' ? result.value : undefined;
        return {
          ...view,
          cpuPercent: s ? s.cpuPercent : null,
          memoryUsedBytes: s ? s.memoryUsedBytes : null,
          memoryLimitBytes: s ? s.memoryLimitBytes : null,
          sessions: sessions ? (sessions.get(view.ref) ?? 0) : null,
        };
      });
      const users = (await listUsers(ctx.store)).map(
        (u): UserRow => ({
          login: u.login,
          status: u.status,
          role: u.role,
          plan: u.plan,
          telegramId: u.telegramId ?? null,
          keys: u.keys.length,
          vms: state.vms.filter((vm) => vm.user === u.login).length,
        }),
      );
      const { plans, state: planState } = await listPlans(ctx.store);
      const cfg = effectiveConfig(planState.config);
      return {
        at: new Date(),
        host,
        daemon,
        maintenance,
        vms: vms ?? null,
        users,
        plans: plans.map((p) => ({
          name: p.name,
          cpu: p.cpu ?? cfg.cpu,
          ramBytes: p.ramBytes ?? cfg.ram,
          gpu: p.gpu,
          maxVms: p.maxVms,
          maxLifetimeSeconds: p.maxLifetimeSeconds,
          sudo: p.sudo,
          description: p.description,
          users: usersOnPlan(planState, p.name),
        })),
        events,
        problems,
      };
    },
    startVm: async (ref) => void (await startVm(ctx, ref)),
    stopVm: async (ref) => void (await stopVm(ctx, ref)),
    restartVm: async (ref) => void (await restartVm(ctx, ref)),
    destroyVm: async (ref, keepData) => void (await destroyVm(ctx, ref, { keepData })),
    approveUser: async (login) => void (await approveUser(ctx, login)),
    rejectUser: async (login) => void (await rejectUser(ctx, login)),
    revokeUser: async (login) => void (await revokeUser(ctx, login)),
    setUserPlan: async (login, plan) => void (await setUser(ctx.store, login, { plan })),
    async maintenanceOn() {
      const result = await enterMaintenance(ctx, { reason: 'from berth tui' });
      return `maintenance on; stopped ${result.changed.length} VM(s)${result.failed.length ? `, ${result.failed.length} failed` : ''}`;
    },
    async maintenanceOff() {
      const result = await leaveMaintenance(ctx);
      return `maintenance off; started ${result.changed.length} VM(s)${result.failed.length ? `, ${result.failed.length} failed` : ''}`;
    },
    async followLogs(ref, tail, onText, onEnd) {
      const { stream, demux } = await vmLogs(ctx, ref, { follow: true, tail });
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
