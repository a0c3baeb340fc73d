import { Writable } from 'node:stream';
import { effectiveConfig } from '../domain/config-keys.js';
import type { Berth } from '../services/context.js';
import { type DaemonStatus, daemonStatus } from '../services/daemon-control.js';
import { type HostSummary, hostSummary } from '../services/host.js';
import { enterMaintenance, leaveMaintenance, type MaintenanceStatus, maintenanceStatus } from '../services/maintenance.js';
import { listPlans, usersOnPlan } from '../services/plans.js';
import { sshSessionCounts } from '../services/ssh-sessions.js';
import { approveUser, listUsers, rejectUser, revokeUser, setUser } from '../services/users.js';
import { latestVmEvents } from '../services/vm-event-log.js';
import { vmLogs, vmStats } from '../services/vm-exec.js';
import { listVms } from '../services/vm-status.js';
import { destroyVm, restartVm, startVm, stopVm } from '../services/vms.js';
import type { UserStatus, VmEventEntry } from '../state/schema.js';
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

const why = (what: string, err: unknown) => `${what}: ${(err as Error).message.split('\n')[0]}`;

/** The data source over berth's services (and the daemon's API for what only it knows). */
export function berthDataSource(ctx: Berth): DataSource {
  const home = ctx.store.home;
  return {
    async snapshot() {
      const problems: string[] = [];
      const soft =
        <T>(what: string, fallback: T) =>
        (err: unknown) => {
          problems.push(why(what, err));
          return fallback;
        };
      const [state, maintenance, daemon, host, views, stats, sessions, events] = await Promise.all([
        ctx.store.read(),
        maintenanceStatus(ctx),
        daemonStatus(home),
        hostSummary(ctx).catch(soft('Docker engine', null)),
        listVms(ctx, { all: true }).catch(soft('VMs', null)),
        vmStats(ctx).catch(soft('stats', [])),
        sshSessionCounts(home),
        latestVmEvents(ctx),
      ]);
      const statsOf = new Map(stats.map((s) => [s.ref, s]));
      const vms = views?.map((view): VmRow => {
        const s = view.state === 'running' ? statsOf.get(view.ref) : undefined;
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
    revokeUser: async (login) => void (await revokeUser(ctx.store, login)),
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
      stream.once('error', (err: Error) => end(err));
      return () => {
        stopped = true;
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      };
    },
  };
}
