import pLimit from 'p-limit';
import { instanceFilter } from '../docker/labels.js';
import type { ContainerDetails, DockerRuntime } from '../docker/runtime.js';
import { findVm } from '../domain/lookups.js';
import { diskPaths, diskUsed } from '../host/disk-image.js';
import type { State, Vm } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';
import { checkLogin } from '../values/names.js';
import { ENGINE_STATES, type EngineState, type VmView, vmView } from '../views/vm-view.js';
import type { Berth } from './context.js';
import { nextPolicyStop } from './vm-policies.js';

function engineState(vm: Vm, details: ContainerDetails | null | undefined): EngineState {
  if (vm.phase === 'creating') return 'creating';
  if (!details) return 'missing';
  return (ENGINE_STATES as readonly string[]).includes(details.state) ? (details.state as EngineState) : 'dead';
}

/** How many containers are inspected at a time. */
const INSPECT_CONCURRENCY = 8;

/**
 * Reads the engine's truth about VMs and records in the state what it says happened
 * behind berth's back: a container that exited (its exit code) or was OOM-killed.
 */
async function observe(ctx: Berth, runtime: DockerRuntime, vms: Vm[]): Promise<Map<Vm, ContainerDetails | null>> {
  const details = new Map<Vm, ContainerDetails | null>();
  // A host with many VMs is not asked about all of them at once.
  const limit = pLimit(INSPECT_CONCURRENCY);
  await Promise.all(
    vms.map((vm) =>
      limit(async () => {
        details.set(vm, vm.containerId ? await runtime.inspectContainer(vm.containerId) : null);
      }),
    ),
  );
  const ooms = await oomEvents(ctx, runtime, vms);
  const updates = [...details].flatMap(([vm, d]) => {
    if (!d) return [];
    const exitCode = !d.running && d.finishedAt && !d.finishedAt.startsWith('0001') ? d.exitCode : undefined;
    const lastOom = ooms.get(d.id);
    let oom = lastOom && (!vm.oomKilledAt || lastOom > vm.oomKilledAt) ? lastOom : undefined;
    if (!oom && d.oomKilled && !vm.oomKilledAt) oom = d.finishedAt;
    const changed = (exitCode !== undefined && exitCode !== vm.lastExitCode) || oom !== undefined;
    return changed ? [{ vm, exitCode, oom }] : [];
  });
  if (updates.length > 0) {
    await ctx.store.transact((state) => {
      for (const { vm, exitCode, oom } of updates) {
        const record = state.vms.find((v) => v.user === vm.user && v.name === vm.name);
        if (!record) continue;
        if (exitCode !== undefined) record.lastExitCode = exitCode;
        if (oom) record.oomKilledAt = oom;
        Object.assign(vm, record);
      }
    });
  }
  return details;
}

/**
 * When a process in a VM is OOM-killed the container often lives on, and only the
 * engine's event log says so: read the `oom` events it still holds for these VMs.
 */
async function oomEvents(ctx: Berth, runtime: DockerRuntime, vms: Vm[]): Promise<Map<string, string>> {
  const withContainer = vms.filter((vm) => vm.containerId);
  if (withContainer.length === 0) return new Map();
  const state = await ctx.store.read();
  const since = new Date(Math.min(...withContainer.map((vm) => Date.parse(vm.oomKilledAt ?? vm.lastStartedAt ?? vm.createdAt))));
  const events = await runtime.pastEvents({ since, labels: instanceFilter(state.instanceId), actions: ['oom'] });
  const latest = new Map<string, string>();
  for (const event of events) latest.set(event.id, event.time.toISOString());
  return latest;
}

function nextStopOf(state: State, vm: Vm) {
  const plan = state.plans.find((p) => p.name === vm.plan);
  return nextPolicyStop(vm, plan?.maxLifetimeSeconds ?? 0, effectiveConfig(state.config)['idle-timeout']);
}

/** What a VM's home takes on the host's disk (homes with a quota: a stat of its image). */
async function homeUsed(ctx: Berth, state: State, vm: Vm): Promise<number | null> {
  const home = state.homes.find((h) => h.id === vm.home);
  return home?.diskBytes ? diskUsed(diskPaths(ctx.store.home, home.id)) : null;
}

export async function listVms(ctx: Berth, filter: { user?: string; all?: boolean } = {}): Promise<VmView[]> {
  const state = await ctx.store.read();
  if (filter.user !== undefined) checkLogin(filter.user);
  const vms = state.vms.filter((vm) => filter.user === undefined || vm.user === filter.user);
  const runtime = await ctx.runtime();
  const [details, used] = await Promise.all([observe(ctx, runtime, vms), Promise.all(vms.map((vm) => homeUsed(ctx, state, vm)))]);
  return vms
    .map((vm, i) =>
      vmView(vm, engineState(vm, details.get(vm)), nextStopOf(state, vm), { usedBytes: used[i] ?? null, rootfsUsedBytes: null }),
    )
    .filter((view) => filter.all || view.state === 'running' || view.desired === 'running');
}

export async function showVm(ctx: Berth, ref: string): Promise<VmView> {
  const state = await ctx.store.read();
  const vm = findVm(state, ref);
  const runtime = await ctx.runtime();
  const [details, usedBytes, rootfsUsedBytes] = await Promise.all([
    observe(ctx, runtime, [vm]),
    homeUsed(ctx, state, vm),
    vm.containerId ? runtime.writableSize(vm.containerId) : Promise.resolve(null),
  ]);
  return vmView(vm, engineState(vm, details.get(vm)), nextStopOf(await ctx.store.read(), vm), { usedBytes, rootfsUsedBytes });
}

/** Re-reads every VM from the engine and records what changed (after the daemon lost the engine). */
export async function reconcileObserved(ctx: Berth): Promise<void> {
  const state = await ctx.store.read();
  await observe(ctx, await ctx.runtime(), state.vms);
}

/** Containers of this berth home on the engine, by id. */
export async function engineContainers(ctx: Berth, runtime: DockerRuntime) {
  const state = await ctx.store.read();
  return runtime.containers(instanceFilter(state.instanceId));
}
