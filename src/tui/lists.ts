import type { ScheduleView as Window } from '../services/nodes/maintenance.js';
import type { VmEventEntry } from '../state/schema.js';
import type { NodeView } from '../views/node-view.js';
import { type AppRow, appStatsKey, type LiveVm, type PlanRow, type Snapshot, type UserRow, type VmRow } from './data-source.js';
import { eventKey } from './events-view.js';
import { mb } from './format.js';
import { LOCAL_TABS, TABS, type Tab } from './header.js';
import { sortVms, type VmSort } from './vm-table.js';

/** Whether any of the fields holds the filter's text, whatever its case (no filter: all). */
export const matches = (filter: string, ...fields: Array<string | number | null>) =>
  !filter || fields.some((f) => f !== null && String(f).toLowerCase().includes(filter.toLowerCase()));

/** What each tab lists, filtered and ordered, and the key of each row. */
export interface TabLists {
  /** The time the snapshot was read (uptimes and countdowns are counted to it). */
  now: Date;
  /** Every VM known, with its live numbers when it runs (unfiltered: the details of a VM take it from here). */
  rows: VmRow[];
  vms: VmRow[];
  users: UserRow[];
  plans: PlanRow[];
  events: VmEventEntry[];
  windows: Window[];
  /** Swarm: its nodes; null on one engine, which has no Nodes tab. */
  nodes: NodeView[] | null;
  /** Users' apps by USER/NAME, the running ones with their live numbers when they came. */
  apps: AppRow[];
  swarm: boolean;
  tabs: readonly Tab[];
  keysOf: Record<Tab, string[]>;
}

/** A VM with its live numbers, when it runs and they came. */
export function withLive(vms: VmRow[], live: ReadonlyMap<string, LiveVm>): VmRow[] {
  return vms.map((vm) => {
    const numbers = vm.state === 'running' ? live.get(vm.ref) : undefined;
    return numbers ? { ...vm, ...numbers } : vm;
  });
}

/** Apps with their live numbers (read under `appStatsKey`), when they run and the numbers came. */
export function appsWithLive(apps: AppRow[], live: ReadonlyMap<string, LiveVm>): AppRow[] {
  return apps.map((app) => {
    const numbers = app.status === 'running' ? live.get(appStatsKey(app.ref)) : undefined;
    return numbers ? { ...app, ...numbers } : app;
  });
}

/** The live numbers as the table shows them: a read that shows nothing new is not drawn. */
export function liveText(numbers: ReadonlyMap<string, LiveVm>): string {
  return [...numbers].map(([ref, n]) => `${ref} ${n.cpuPercent?.toFixed(1)} ${mb(n.memoryUsedBytes)}/${mb(n.memoryLimitBytes)}`).join('\n');
}

export function tabLists(
  snap: Snapshot | null,
  vmsKnown: VmRow[],
  live: ReadonlyMap<string, LiveVm>,
  filter: string,
  sort: VmSort,
): TabLists {
  const now = snap?.at ?? new Date();
  const rows = withLive(vmsKnown, live);
  const vms = sortVms(
    rows.filter((vm) => matches(filter, vm.ref, vm.plan, vm.state, vm.nodeName ?? null)),
    sort,
    now,
  );
  const users = (snap?.users ?? []).filter((u) => matches(filter, u.login, u.status, u.plan, u.telegramId, u.discordId));
  const plans = (snap?.plans ?? []).filter((p) => matches(filter, p.name, ...p.users));
  const events = (snap?.events ?? []).filter((e) => matches(filter, e.vm, e.kind, e.reason));
  const windows = snap?.maintenance.schedules ?? [];
  const apps = appsWithLive(snap?.apps ?? [], live)
    .filter((a) => matches(filter, a.ref, a.status))
    .sort((a, b) => a.ref.localeCompare(b.ref));
  const swarm = Boolean(snap?.nodes);
  const nodes = snap?.nodes ? snap.nodes.filter((n) => matches(filter, n.hostname, n.role, n.state, n.availability)) : null;
  return {
    now,
    rows,
    vms,
    users,
    plans,
    events,
    windows,
    nodes,
    apps,
    swarm,
    tabs: swarm ? TABS : LOCAL_TABS,
    keysOf: {
      VMs: vms.map((v) => v.ref),
      Users: users.map((u) => u.login),
      Plans: plans.map((p) => p.name),
      Schedule: windows.map((s) => s.id),
      Events: events.map(eventKey),
      Nodes: (nodes ?? []).map((n) => n.id),
      Apps: apps.map((a) => a.ref),
    },
  };
}
