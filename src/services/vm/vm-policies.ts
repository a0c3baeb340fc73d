import { instanceFilter } from '../../docker/labels.js';
import { type LiveStats, type LiveStatsSource, liveStats } from '../../docker/live-stats.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { OPERATOR } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import type { StopReason, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { formatDuration } from '../../values/durations.js';
import { formatSize, formatUsage } from '../../values/sizes.js';
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

const seconds = (from: string | undefined, now: Date) => (from ? (now.getTime() - Date.parse(from)) / 1000 : 0);

/**
 * Applies the idle, lifetime and destroy-after policies once: stops VMs idle longer
 * than `idle-timeout` (no session, no exec, CPU under `idle-cpu`) or running longer
 * than their plan's maximum lifetime, and destroys VMs stopped longer than
 * `destroy-after`. Every action is notified to the owner.
 *
 * The engine is read once per pass (a filtered container list) whatever the number of VMs;
 * only a VM about to be stopped as idle is inspected (for commands running in it) and, where
 * its CPU is not known yet, measured. The stops and destroys go `bulk.concurrency` at a time.
 */
export async function enforcePolicies(
  ctx: Berth,
  now = new Date(),
  sessions: SessionCounts = () => 0,
  memory: PolicyMemory = policyMemory(),
): Promise<PolicyAction[]> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const running = state.vms.filter((vm) => vm.phase === 'ready' && vm.containerId && vm.desired === 'running');
  const actions: PolicyAction[] = [];
  if (running.length === 0 && cfg['destroy-after'] === 0) return actions;
  const runtime = await ctx.runtime();
  const concurrency = cfg['bulk.concurrency'];

  const active: string[] = [];
  const toStop: Array<{ vm: Vm; reason: StopReason; detail: string }> = [];
  // What VMs wrote outside their homes, where the engine does not limit it itself: one engine call.
  const measured = running.filter((vm) => vm.resources.rootfsEnforced === 'measured' && vm.resources.rootfsBytes);
  const sizes = measured.length
    ? await runtime.writableSizes(instanceFilter(state.instanceId)).catch(() => new Map<string, number>())
    : null;
  for (const vm of measured) {
    const used = sizes?.get(vm.containerId as string) ?? 0;
    const limit = vm.resources.rootfsBytes as number;
    if (used > limit) {
      toStop.push({ vm, reason: 'disk', detail: `it wrote ${formatUsage(used)} outside its home, more than its ${formatSize(limit)}` });
    }
  }
  const stopping = new Set(toStop.map((t) => t.vm));
  const watched: Vm[] = [];
  for (const vm of running) {
    if (stopping.has(vm)) continue;
    const plan = state.plans.find((p) => p.name === vm.plan);
    const lifetime = plan?.maxLifetimeSeconds ?? 0;
    if (lifetime > 0 && seconds(vm.lastStartedAt, now) >= lifetime) {
      toStop.push({ vm, reason: 'lifetime', detail: `ran longer than its plan's ${formatDuration(lifetime)}` });
    } else if (cfg['idle-timeout'] > 0) watched.push(vm);
  }
  const judgeIdle = async (engine: DockerRuntime, stats: LiveStatsSource, group: Vm[]) => {
    const idleCandidates: Vm[] = [];
    // Which are running, for all of them: one engine call.
    const listed = await engine.containers(instanceFilter(state.instanceId));
    const up = new Set(listed.filter((c) => c.state === 'running').map((c) => c.id));
    const alive = group.filter((vm) => up.has(vm.containerId as string));
    const ids = alive.map((vm) => vm.containerId as string);
    // The CPU since the last pass, where the cgroup files give it for nothing; not the engine's streams.
    const cpu = (await stats.which(ids)) === 'cgroup' ? await stats.read(ids) : new Map<string, LiveStats>();
    for (const vm of alive) {
      const used = cpu.get(vm.containerId as string)?.cpuPercent;
      if (sessions(vmRef(vm)) > 0 || (used != null && used >= cfg['idle-cpu'])) active.push(vmRef(vm));
      else if (seconds(vm.lastActiveAt ?? vm.lastStartedAt ?? vm.createdAt, now) >= cfg['idle-timeout']) idleCandidates.push(vm);
    }
    // Only the VMs about to be stopped: a command running in one keeps it; the CPU of those not measured yet.
    const unmeasured = idleCandidates.filter((vm) => cpu.get(vm.containerId as string)?.cpuPercent == null);
    const [details, sampled] = await Promise.all([
      inParallel(
        idleCandidates,
        vmRef,
        async (vm) => {
          if (((await engine.inspectContainer(vm.containerId as string))?.execs ?? 0) > 0) active.push(vmRef(vm));
        },
        { concurrency },
      ),
      stats.sample(
        unmeasured.map((vm) => vm.containerId as string),
        concurrency,
      ),
    ]);
    const failedChecks = new Set(details.failed.map((f) => f.item));
    for (const vm of idleCandidates) {
      if (active.includes(vmRef(vm)) || failedChecks.has(vm)) continue;
      const result = sampled.get(vm.containerId as string);
      if (result?.status === 'rejected') continue;
      if (result?.status === 'fulfilled' && result.value.cpuPercent >= cfg['idle-cpu']) active.push(vmRef(vm));
      else toStop.push({ vm, reason: 'idle', detail: `idle for ${formatDuration(cfg['idle-timeout'])}` });
    }
  };
  // Readings of nodes with no VM to judge any more go (the map holds at most the nodes in use).
  const inUse = new Set(watched.map((vm) => vm.node ?? ''));
  for (const [node, stats] of memory.byNode ?? []) {
    if (inUse.has(node)) continue;
    stats.close();
    memory.byNode?.delete(node);
  }
  // One engine per node, each within its deadline: a node that does not answer in time (or stalls
  // mid-pass) has its VMs left for the next pass, never judged idle from what berth could not read.
  await (await ctx.backend())
    .eachEngine(watched, 'judge the VMs of a node idle or not', NODE_DEADLINE_MS * 4, async (engine, vms) => {
      const node = vms[0]?.node ?? '';
      let stats = node ? memory.byNode?.get(node) : memory.stats;
      if (!stats) {
        stats = liveStats(engine);
        if (!node) memory.stats = stats;
        else {
          memory.byNode ??= new Map();
          memory.byNode.set(node, stats);
        }
      }
      await judgeIdle(engine, stats, vms);
    })
    .catch(() => undefined);
  if (active.length) {
    const busy = new Set(active);
    await ctx.store.transact((s) => {
      for (const vm of s.vms) if (busy.has(vmRef(vm))) vm.lastActiveAt = now.toISOString();
    });
  }
  const stops = await stopVms(
    ctx,
    toStop.map(({ vm, reason }) => ({ ref: vmRef(vm), reason })),
    OPERATOR,
    { concurrency },
  );
  const stopped = new Set(stops.changed);
  const failedStops = new Map(stops.failed.map((f) => [f.vm, f.error]));
  for (const { vm, reason, detail } of toStop) {
    const ref = vmRef(vm);
    if (!stopped.has(ref)) {
      actions.push({ vm: ref, action: 'failed', reason, detail: `could not stop it: ${failedStops.get(ref) ?? 'unknown error'}` });
      continue;
    }
    actions.push({ vm: ref, action: 'stopped', reason, detail });
    const next =
      reason === 'disk'
        ? 'Start it again and delete what you do not need outside your home (e.g. in /tmp), or ask the operator for a larger plan.'
        : 'Start it again when you need it.';
    await ctx.notifier.send({ kind: 'vm-stopped', to: vm.user, vm: ref, text: `Your VM ${ref} was stopped: ${detail}. ${next}` });
  }
  if (cfg['destroy-after'] > 0) {
    const stale = state.vms.filter(
      (vm) => vm.phase === 'ready' && vm.desired === 'stopped' && seconds(vm.lastStoppedAt, now) >= cfg['destroy-after'],
    );
    const keepData = !cfg['destroy-after.remove-home'];
    const destroyed = await inParallel(
      stale,
      vmRef,
      async (vm) => void (await destroyVm(ctx, vmRef(vm), { keepData, onlyIfStoppedSince: vm.lastStoppedAt })),
      { concurrency },
    );
    for (const { item: vm, failure } of destroyed.failed) {
      actions.push({ vm: vmRef(vm), action: 'failed', reason: 'destroy-after', detail: `could not destroy it: ${failure.error}` });
    }
    for (const vm of destroyed.done) {
      const ref = vmRef(vm);
      const detail = `stopped for ${formatDuration(cfg['destroy-after'])}${keepData ? '; its home is kept' : ''}`;
      actions.push({ vm: ref, action: 'destroyed', reason: 'destroy-after', detail });
      await ctx.notifier.send({ kind: 'vm-destroyed', to: vm.user, vm: ref, text: `Your VM ${ref} was destroyed: ${detail}.` });
    }
  }
  return actions;
}

/** When berth will next stop a running VM on its own (idle or lifetime), if ever. */
export function nextPolicyStop(vm: Vm, maxLifetimeSeconds: number, idleTimeout: number): { at: string; reason: StopReason } | null {
  if (vm.desired !== 'running' || !vm.lastStartedAt) return null;
  const candidates: Array<{ at: number; reason: StopReason }> = [];
  if (maxLifetimeSeconds > 0) candidates.push({ at: Date.parse(vm.lastStartedAt) + maxLifetimeSeconds * 1000, reason: 'lifetime' });
  if (idleTimeout > 0) candidates.push({ at: Date.parse(vm.lastActiveAt ?? vm.lastStartedAt) + idleTimeout * 1000, reason: 'idle' });
  const first = candidates.sort((a, b) => a.at - b.at)[0];
  return first ? { at: new Date(first.at).toISOString(), reason: first.reason } : null;
}
