import { instanceFilter } from '../../docker/labels.js';
import { type LiveStats, type LiveStatsSource, liveStats } from '../../docker/live-stats.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { OPERATOR } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import {
  decidePolicies,
  idleCandidate,
  measuredRootfs,
  type PolicyDecision,
  type PolicyReadings,
  policyRunning,
  type VmActivity,
  watchedForIdle,
} from '../../domain/vm-policy-decisions.js';
import type { State, StopReason, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { NODE_DEADLINE_MS } from '../engine/engines.js';
import { inParallel, stopVms } from './vm-bulk.js';
import { destroyVm } from './vms.js';

export interface PolicyAction {
  vm: string;
  action: 'stopped' | 'destroyed' | 'failed';
  reason: StopReason | 'destroy-after';
  detail: string;
}

/** Sessions the daemon's front-ends hold open per VM ref (an SSH session keeps a VM alive). */
export type SessionCounts = (ref: string) => number;

/**
 * What the policies keep from one pass to the next: the VMs' CPU readings, so that a pass reads
 * the CPU each used since the last one (from the cgroup files, where the engine is on this
 * machine). Without it (or on an engine elsewhere) the VMs about to be stopped are measured then.
 */
export interface PolicyMemory {
  stats: LiveStatsSource | null;
  /** On Swarm: the same for each node other than this engine's. */
  byNode?: Map<string, LiveStatsSource>;
}

export const policyMemory = (): PolicyMemory => ({ stats: null });

/**
 * Applies the disk, lifetime, idle and destroy-after policies once: stops VMs that wrote more
 * outside their homes than their plan allows, that ran longer than their plan's lifetime or that
 * were idle longer than `idle-timeout` (no session, no exec, CPU under `idle-cpu`), and destroys
 * VMs stopped longer than `destroy-after`. Every action is notified to the owner.
 *
 * What to do is decided in domain/vm-policy-decisions.ts from what is read here
 * (`readPolicyInputs`); this does it: the busy VMs' activity, the stops, the destroys
 * (`bulk.concurrency` at a time), the notices.
 */
export async function enforcePolicies(
  ctx: Berth,
  now = new Date(),
  sessions: SessionCounts = () => 0,
  memory: PolicyMemory = policyMemory(),
): Promise<PolicyAction[]> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (policyRunning(state).length === 0 && cfg['destroy-after'] === 0) return [];
  const readings = await readPolicyInputs(ctx, state, now, sessions, memory);
  const decisions = decidePolicies(state, now, readings);
  const concurrency = cfg['bulk.concurrency'];
  await recordActivity(ctx, decisions);
  const stops = await performStops(ctx, decisions, concurrency);
  return [...stops, ...(await performDestroys(ctx, decisions, concurrency))];
}

/**
 * What the policies need of the engines: what the measured VMs wrote outside their homes (one
 * engine call) and the activity of the VMs watched for idleness, read on each engine that holds
 * some (the port's `eachEngine`). A node that does not answer in time (or stalls mid-pass) has its
 * VMs left for the next pass, never judged idle from what berth could not read.
 */
export async function readPolicyInputs(
  ctx: Berth,
  state: State,
  now: Date,
  sessions: SessionCounts,
  memory: PolicyMemory,
): Promise<PolicyReadings> {
  const runtime = await ctx.runtime();
  const writable = measuredRootfs(state).length
    ? await runtime.writableSizes(instanceFilter(state.instanceId)).catch(() => new Map<string, number>())
    : null;
  const watched = watchedForIdle(state, now, writable);
  forgetIdleNodes(memory, new Set(watched.map((vm) => vm.node ?? '')));
  const pass: PolicyPass = { state, now, sessions, activity: new Map(), open: true };
  await (await ctx.backend())
    .eachEngine(watched, 'judge the VMs of a node idle or not', NODE_DEADLINE_MS * 4, async (engine, vms) =>
      readNodeActivity(pass, engine, statsOf(memory, vms[0]?.node ?? '', engine), vms),
    )
    .catch(() => undefined);
  // What a node that ran out of time reads afterwards is not taken.
  pass.open = false;
  return { writable, activity: pass.activity };
}

/** Readings of nodes with no VM to judge any more go (the memory holds at most the nodes in use). */
function forgetIdleNodes(memory: PolicyMemory, inUse: Set<string>): void {
  for (const [node, stats] of memory.byNode ?? []) {
    if (inUse.has(node)) continue;
    stats.close();
    memory.byNode?.delete(node);
  }
}

/** The node's CPU readings kept from the last pass, or new ones. */
function statsOf(memory: PolicyMemory, node: string, engine: DockerRuntime): LiveStatsSource {
  const kept = node ? memory.byNode?.get(node) : memory.stats;
  if (kept) return kept;
  const stats = liveStats(engine);
  if (!node) memory.stats = stats;
  else {
    memory.byNode ??= new Map();
    memory.byNode.set(node, stats);
  }
  return stats;
}

/** One pass's readings, as they come in. */
interface PolicyPass {
  state: State;
  now: Date;
  sessions: SessionCounts;
  /** What is known of each watched VM: what was read before a node stalls counts. */
  activity: Map<string, VmActivity>;
  /** Whether the pass still takes readings. */
  open: boolean;
}

/**
 * The activity of one node's watched VMs: which run (one engine call), their sessions, their CPU
 * since the last pass where the cgroup files give it for nothing; then, only of the VMs about to
 * be stopped as idle, the commands running in them and the CPU of those not measured yet.
 */
async function readNodeActivity(pass: PolicyPass, engine: DockerRuntime, stats: LiveStatsSource, vms: Vm[]): Promise<void> {
  const { state, now } = pass;
  const cfg = effectiveConfig(state.config);
  const listed = await engine.containers(instanceFilter(state.instanceId));
  const up = new Set(listed.filter((c) => c.state === 'running').map((c) => c.id));
  const alive = vms.filter((vm) => up.has(vm.containerId as string));
  const ids = alive.map((vm) => vm.containerId as string);
  const cpu = (await stats.which(ids)) === 'cgroup' ? await stats.read(ids) : new Map<string, LiveStats>();
  if (!pass.open) return;
  const seen = new Map<Vm, VmActivity>();
  for (const vm of alive) {
    const cpuPercent = cpu.get(vm.containerId as string)?.cpuPercent;
    const activity: VmActivity = { sessions: pass.sessions(vmRef(vm)), ...(cpuPercent != null ? { cpuPercent } : {}) };
    seen.set(vm, activity);
    pass.activity.set(vmRef(vm), activity);
  }
  const candidates = alive.filter((vm) => idleCandidate(vm, seen.get(vm) as VmActivity, now, cfg));
  const unmeasured = candidates.filter((vm) => seen.get(vm)?.cpuPercent == null).map((vm) => vm.containerId as string);
  const execs = new Map<Vm, number>();
  const concurrency = cfg['bulk.concurrency'];
  const [, sampled] = await Promise.all([
    inParallel(candidates, vmRef, async (vm) => void execs.set(vm, (await engine.inspectContainer(vm.containerId as string))?.execs ?? 0), {
      concurrency,
    }),
    stats.sample(unmeasured, concurrency).catch(() => null),
  ]);
  if (!pass.open) return;
  for (const vm of candidates) {
    const activity = seen.get(vm) as VmActivity;
    const n = execs.get(vm);
    // Without the CPU readings, only a command running in it is known: a VM kept, none stopped.
    activity.execs = n !== undefined && (sampled || n > 0) ? n : 'unknown';
    const sample = sampled?.get(vm.containerId as string);
    if (sample) activity.cpuSample = sample.status === 'fulfilled' ? sample.value.cpuPercent : 'unknown';
  }
}

/** The busy VMs: idleness is counted from now on. */
async function recordActivity(ctx: Berth, decisions: PolicyDecision[]): Promise<void> {
  const busy = new Map<string, string>();
  for (const d of decisions) if (d.kind === 'record-activity') busy.set(d.vm, d.at);
  if (busy.size === 0) return;
  await ctx.store.transact((s) => {
    for (const vm of s.vms) {
      const at = busy.get(vmRef(vm));
      if (at) vm.lastActiveAt = at;
    }
  });
}

/** The stops, all at once; the owner of each VM stopped is told why. */
async function performStops(ctx: Berth, decisions: PolicyDecision[], concurrency: number): Promise<PolicyAction[]> {
  const toStop = decisions.filter((d) => d.kind === 'stop');
  const stops = await stopVms(
    ctx,
    toStop.map(({ vm, reason }) => ({ ref: vm, reason })),
    OPERATOR,
    { concurrency },
  );
  const stopped = new Set(stops.changed);
  const failedStops = new Map(stops.failed.map((f) => [f.vm, f.error]));
  const actions: PolicyAction[] = [];
  for (const { vm, reason, detail, notice } of toStop) {
    if (!stopped.has(vm)) {
      actions.push({ vm, action: 'failed', reason, detail: `could not stop it: ${failedStops.get(vm) ?? 'unknown error'}` });
      continue;
    }
    actions.push({ vm, action: 'stopped', reason, detail });
    await ctx.notifier.send(notice);
  }
  return actions;
}

/** The destroys (each only if nobody started the VM meanwhile); the owner of each VM destroyed is told. */
async function performDestroys(ctx: Berth, decisions: PolicyDecision[], concurrency: number): Promise<PolicyAction[]> {
  const toDestroy = decisions.filter((d) => d.kind === 'destroy');
  if (toDestroy.length === 0) return [];
  const destroyed = await inParallel(
    toDestroy,
    (d) => d.vm,
    async (d) => void (await destroyVm(ctx, d.vm, { keepData: d.keepData, onlyIfStoppedSince: d.stoppedSince })),
    { concurrency },
  );
  const actions: PolicyAction[] = destroyed.failed.map(({ item, failure }) => ({
    vm: item.vm,
    action: 'failed',
    reason: 'destroy-after',
    detail: `could not destroy it: ${failure.error}`,
  }));
  for (const { vm, detail, notice } of destroyed.done) {
    actions.push({ vm, action: 'destroyed', reason: 'destroy-after', detail });
    await ctx.notifier.send(notice);
  }
  return actions;
}
