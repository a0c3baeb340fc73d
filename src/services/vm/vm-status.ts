import pLimit from 'p-limit';
import { instanceFilter, LABEL } from '../../docker/labels.js';
import type { ContainerSummary, DockerRuntime } from '../../docker/runtime.js';
import { findVm } from '../../domain/lookups.js';
import { nextPolicyStop } from '../../domain/vm-policy-decisions.js';
import { diskPaths, diskUsed } from '../../host/disk-image.js';
import type { State, Vm } from '../../state/schema.js';
import { agentsOfLabel } from '../../values/agents.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { checkLogin } from '../../values/names.js';
import { ENGINE_STATES, type EngineState, type VmView, vmView } from '../../views/vm-view.js';
import { agentRunCounts } from '../control/ssh-sessions.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { NODE_DEADLINE_MS } from '../engine/engines.js';

function engineState(vm: Vm, container: ContainerSummary | null | undefined): EngineState {
  if (vm.phase === 'creating') return 'creating';
  // A stopped Swarm VM has no task: its service is at 0 replicas (the old task's container may be pruned).
  if (!container && vm.node && vm.desired === 'stopped') return 'exited';
  if (!container) return 'missing';
  return (ENGINE_STATES as readonly string[]).includes(container.state) ? (container.state as EngineState) : 'dead';
}

/** Containers inspected at a time: only those whose exit berth has not recorded yet. */
const INSPECT_CONCURRENCY = 8;

/** What the engine says about this home's VMs: one filtered container list, and the `oom` events it still holds. */
export interface EngineReading {
  containers: ContainerSummary[];
  /** The latest `oom` event of each container, by id. */
  ooms: Map<string, string>;
}

/** Two engine calls, whatever the number of VMs. `narrow` adds label filters when fewer VMs are asked about (one user's, one VM). */
export async function readEngine(runtime: DockerRuntime, state: State, vms: Vm[], narrow: string[] = []): Promise<EngineReading> {
  const [containers, ooms] = await Promise.all([
    vms.some((vm) => vm.containerId) ? runtime.containers([...instanceFilter(state.instanceId), ...narrow]) : Promise.resolve([]),
    oomEvents(runtime, state, vms),
  ]);
  return { containers, ooms };
}

/** What the engines said of each VM (its container, or null), and each VM's record as last written. */
interface Observed {
  found: Map<Vm, ContainerSummary | null>;
  current: (vm: Vm) => Vm;
}

/**
 * Reads the engine's truth about VMs (`reading`, or a fresh one) and records in the state what it
 * says happened behind berth's back: a container that exited (its exit code) or was OOM-killed.
 * Only a container whose exit is new to berth is inspected (for the kernel's OOM kill of the whole
 * VM and when it ended).
 */
async function observe(
  ctx: Berth,
  runtime: DockerRuntime,
  state: State,
  vms: Vm[],
  narrow: string[] = [],
  reading?: EngineReading,
): Promise<Observed> {
  const { containers: listed, ooms } = reading ?? (await readEngine(runtime, state, vms, narrow));
  const byId = new Map(listed.map((c) => [c.id, c]));
  const found = new Map(vms.map((vm) => [vm, vm.containerId ? (byId.get(vm.containerId) ?? null) : null]));
  const exited = (vm: Vm, c: ContainerSummary | null): c is ContainerSummary =>
    c !== null && c.state !== 'running' && c.exitCode !== null && c.exitCode !== vm.lastExitCode;
  const limit = pLimit(INSPECT_CONCURRENCY);
  const inspected = new Map(
    await Promise.all(
      [...found]
        .filter(([vm, c]) => exited(vm, c))
        .map(([vm, c]) => limit(async () => [vm, await runtime.inspectContainer(c?.id as string)] as const)),
    ),
  );
  const updates = [...found].flatMap(([vm, c]) => {
    if (!c) return [];
    const exitCode = c.state !== 'running' && c.exitCode !== null ? c.exitCode : undefined;
    const lastOom = ooms.get(c.id);
    let oom = lastOom && (!vm.oomKilledAt || lastOom > vm.oomKilledAt) ? lastOom : undefined;
    const details = inspected.get(vm);
    if (!oom && details?.oomKilled && !vm.oomKilledAt) oom = details.finishedAt;
    const changed = (exitCode !== undefined && exitCode !== vm.lastExitCode) || oom !== undefined;
    return changed ? [{ vm, exitCode, oom }] : [];
  });
  // The records as written (`vms` may be a shared, frozen snapshot: they are not changed in place).
  const written = new Map<Vm, Vm>();
  if (updates.length > 0) {
    await ctx.store.transact((st) => {
      for (const { vm, exitCode, oom } of updates) {
        const record = st.vms.find((v) => v.user === vm.user && v.name === vm.name);
        if (!record) continue;
        if (exitCode !== undefined) record.lastExitCode = exitCode;
        if (oom) record.oomKilledAt = oom;
        written.set(vm, structuredClone(record));
      }
    });
  }
  return { found, current: (vm) => written.get(vm) ?? vm };
}

/**
 * When a process in a VM is OOM-killed the container often lives on, and only the
 * engine's event log says so: read the `oom` events it still holds for these VMs.
 */
async function oomEvents(runtime: DockerRuntime, state: State, vms: Vm[]): Promise<Map<string, string>> {
  const withContainer = vms.filter((vm) => vm.containerId);
  if (withContainer.length === 0) return new Map();
  const since = new Date(Math.min(...withContainer.map((vm) => Date.parse(vm.oomKilledAt ?? vm.lastStartedAt ?? vm.createdAt))));
  const events = await runtime.pastEvents({ since, labels: instanceFilter(state.instanceId), actions: ['oom'] });
  const latest = new Map<string, string>();
  for (const event of events) latest.set(event.id, event.time.toISOString());
  return latest;
}

function nextStopOf(state: State, vm: Vm, idleTimeout = effectiveConfig(state.config)['idle-timeout']) {
  const plan = state.plans.find((p) => p.name === vm.plan);
  return nextPolicyStop(vm, plan?.maxLifetimeSeconds ?? 0, idleTimeout);
}

/** What a VM's home takes on the host's disk (homes with a quota: a stat of its image). */
async function homeUsed(ctx: Berth, state: State, vm: Vm): Promise<number | null> {
  const home = state.homes.find((h) => h.id === vm.home);
  return home?.diskBytes ? diskUsed(diskPaths(ctx.store.home, home.id)) : null;
}

/** The VMs as `vm list` shows them; `reading` is what the engine said a moment ago, when the caller keeps it (the TUI). */
export async function listVms(ctx: Berth, filter: { user?: string; all?: boolean } = {}, reading?: EngineReading): Promise<VmView[]> {
  // Only read: the shared snapshot, not a copy of the whole state (the bot's /status, per update).
  const state = await ctx.store.snapshot();
  if (filter.user !== undefined) checkLogin(filter.user);
  const vms = state.vms.filter((vm) => filter.user === undefined || vm.user === filter.user);
  const narrow = filter.user === undefined ? [] : [`${LABEL.user}=${filter.user}`];
  const [{ found, current }, used] = await Promise.all([
    observeEngines(ctx, state, vms, narrow, reading),
    Promise.all(vms.map((vm) => homeUsed(ctx, state, vm))),
  ]);
  const idleTimeout = effectiveConfig(state.config)['idle-timeout'];
  return vms
    .map((vm, i) =>
      vmView(current(vm), found.has(vm) ? engineState(vm, found.get(vm)) : 'node-down', nextStopOf(state, current(vm), idleTimeout), {
        usedBytes: used[i] ?? null,
        rootfsUsedBytes: null,
      }),
    )
    .filter((view) => filter.all || view.state === 'running' || view.desired === 'running');
}

/** How long one engine has to list its VMs (and inspect those that exited). */
const OBSERVE_DEADLINE_MS = NODE_DEADLINE_MS * 4;

/**
 * `observe` on every engine that holds some of `vms`, at once and each within a deadline. The VMs
 * of a node whose engine does not answer are left out of the answer (they are node-down); with one
 * engine, its failure is the caller's. `reading` is what this host's engine said a moment ago.
 */
async function observeEngines(ctx: Berth, state: State, vms: Vm[], narrow: string[], reading?: EngineReading): Promise<Observed> {
  const groups = await (await ctx.backend()).eachEngine(vms, 'list the VMs', OBSERVE_DEADLINE_MS, async (runtime, group) =>
    observe(ctx, runtime, state, group, narrow, runtime === (await ctx.runtime()) ? reading : undefined),
  );
  const found = new Map<Vm, ContainerSummary | null>();
  const written = new Map<Vm, Vm>();
  for (const { result } of groups) {
    for (const [vm, c] of result?.found ?? []) {
      found.set(vm, c);
      written.set(vm, result?.current(vm) ?? vm);
    }
  }
  return { found, current: (vm) => written.get(vm) ?? vm };
}

export async function showVm(ctx: Berth, ref: string): Promise<VmView> {
  const state = await ctx.store.read();
  const vm = findVm(state, ref);
  const runs = agentRunCounts(ctx.store.home);
  const [{ found, current }, usedBytes] = await Promise.all([
    observeEngines(ctx, state, [vm], [`${LABEL.user}=${vm.user}`, `${LABEL.vm}=${vm.name}`]),
    homeUsed(ctx, state, vm),
  ]);
  const container = found.get(vm);
  // What only the VM's own engine tells, while it answers: what the VM wrote outside its home, its labels.
  const [rootfsUsedBytes, labels] = container
    ? await withDeadline(NODE_DEADLINE_MS * 2, 'inspect the VM', async () => {
        const engine = await (await ctx.backend()).engineOf(vm);
        return Promise.all([engine.writableSize(container.id), engine.inspectContainer(container.id).then((d) => d?.labels)]);
      }).catch(() => [null, undefined] as const)
    : [null, undefined];
  const view = vmView(current(vm), found.has(vm) ? engineState(vm, container) : 'node-down', nextStopOf(state, current(vm)), {
    usedBytes,
    rootfsUsedBytes,
  });
  // The image's label says which agents it has (the manager holds every VM image) when the container's cannot be read.
  const agents = labels ? agentsOfLabel(labels[LABEL.agents]).map((a) => a.name) : await imageAgentNames(ctx, vm.image).catch(() => []);
  return withAgents(view, agents, await runs);
}

/** A VM's view with the agents its image has and whether one runs now (null: no daemon to tell). */
function withAgents(view: VmView, agents: string[], runs: Map<string, number> | null): VmView {
  return { ...view, agents, agentRunning: runs ? (runs.get(view.ref) ?? 0) > 0 : null };
}

/**
 * Re-reads every VM from the engine and records what changed (after the daemon lost the engine).
 * `node` (swarm): only the VMs on that node, from its engine, within the node deadline.
 */
export async function reconcileObserved(ctx: Berth, node?: { id: string; hostname: string }): Promise<void> {
  const state = await ctx.store.read();
  const vms = node ? state.vms.filter((vm) => vm.node === node.id) : state.vms;
  const groups = await (await ctx.backend()).eachEngine(vms, 're-read the VMs', OBSERVE_DEADLINE_MS, (runtime, group) =>
    observe(ctx, runtime, state, group),
  );
  // Asked about one node: that its engine did not answer is the caller's to know.
  const failed = groups.find((g) => g.error !== undefined);
  if (node && failed) throw failed.error;
}

/** Containers of this berth home on the engine, by id. */
export async function engineContainers(ctx: Berth, runtime: DockerRuntime) {
  const state = await ctx.store.read();
  return runtime.containers(instanceFilter(state.instanceId));
}

/** The coding agents an image has (its label dev.berth.agents); [] when it has none or is not on the engine. */
export async function imageAgentNames(ctx: Berth, image: string): Promise<string[]> {
  const found = await (await ctx.runtime()).image(image);
  return found ? agentsOfLabel(found.labels[LABEL.agents]).map((a) => a.name) : [];
}
