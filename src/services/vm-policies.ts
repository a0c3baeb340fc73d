import { instanceFilter } from '../docker/labels.js';
import { OPERATOR } from '../domain/actor.js';
import { vmRef } from '../domain/lookups.js';
import type { StopReason, Vm } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';
import { formatDuration } from '../values/durations.js';
import { formatSize, formatUsage } from '../values/sizes.js';
import type { Berth } from './context.js';
import { destroyVm, stopVm } from './vms.js';

export interface PolicyAction {
  vm: string;
  action: 'stopped' | 'destroyed' | 'failed';
  reason: StopReason | 'destroy-after';
  detail: string;
}

/** Sessions the daemon's front-ends hold open per VM ref (an SSH session keeps a VM alive). */
export type SessionCounts = (ref: string) => number;

const seconds = (from: string | undefined, now: Date) => (from ? (now.getTime() - Date.parse(from)) / 1000 : 0);

/**
 * Applies the idle, lifetime and destroy-after policies once: stops VMs idle longer
 * than `idle-timeout` (no session, no exec, CPU under `idle-cpu`) or running longer
 * than their plan's maximum lifetime, and destroys VMs stopped longer than
 * `destroy-after`. Every action is notified to the owner.
 */
export async function enforcePolicies(ctx: Berth, now = new Date(), sessions: SessionCounts = () => 0): Promise<PolicyAction[]> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const running = state.vms.filter((vm) => vm.phase === 'ready' && vm.containerId && vm.desired === 'running');
  const actions: PolicyAction[] = [];
  if (running.length === 0 && cfg['destroy-after'] === 0) return actions;
  const runtime = await ctx.runtime();

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
  await Promise.allSettled(
    running.map(async (vm) => {
      if (stopping.has(vm)) return;
      const ref = vmRef(vm);
      const plan = state.plans.find((p) => p.name === vm.plan);
      const lifetime = plan?.maxLifetimeSeconds ?? 0;
      if (lifetime > 0 && seconds(vm.lastStartedAt, now) >= lifetime) {
        toStop.push({ vm, reason: 'lifetime', detail: `ran longer than its plan's ${formatDuration(lifetime)}` });
        return;
      }
      if (cfg['idle-timeout'] === 0) return;
      const details = await runtime.inspectContainer(vm.containerId as string);
      if (!details?.running) return;
      let busy = sessions(ref) > 0 || details.execs > 0;
      if (!busy) busy = (await runtime.stats(vm.containerId as string)).cpuPercent >= cfg['idle-cpu'];
      if (busy) active.push(ref);
      else if (seconds(vm.lastActiveAt ?? vm.lastStartedAt ?? vm.createdAt, now) >= cfg['idle-timeout']) {
        toStop.push({ vm, reason: 'idle', detail: `idle for ${formatDuration(cfg['idle-timeout'])}` });
      }
    }),
  );
  if (active.length) {
    await ctx.store.transact((s) => {
      for (const vm of s.vms) if (active.includes(vmRef(vm))) vm.lastActiveAt = now.toISOString();
    });
  }
  for (const { vm, reason, detail } of toStop) {
    const ref = vmRef(vm);
    try {
      await stopVm(ctx, ref, OPERATOR, reason);
    } catch (err) {
      actions.push({ vm: ref, action: 'failed', reason, detail: `could not stop it: ${(err as Error).message}` });
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
    for (const vm of stale) {
      const ref = vmRef(vm);
      const keepData = !cfg['destroy-after.remove-home'];
      try {
        await destroyVm(ctx, ref, { keepData, onlyIfStoppedSince: vm.lastStoppedAt });
      } catch (err) {
        actions.push({ vm: ref, action: 'failed', reason: 'destroy-after', detail: `could not destroy it: ${(err as Error).message}` });
        continue;
      }
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
