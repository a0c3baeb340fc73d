import { vmRef } from '../domain/lookups.js';
import type { Berth } from './context.js';
import { logVmEvent } from './vm-event-log.js';

export interface VmEvent {
  containerId: string;
  action: 'start' | 'die' | 'oom';
  exitCode?: number;
  time: Date;
}

/**
 * Records what the engine says happened to a VM (it started, died, ran out of
 * memory) and tells its owner when it was not berth's doing.
 */
export async function recordVmEvent(ctx: Berth, event: VmEvent): Promise<string | null> {
  const at = event.time.toISOString();
  const outcome = await ctx.store.transact((state) => {
    const vm = state.vms.find((v) => v.containerId === event.containerId);
    if (!vm) return null;
    const ref = vmRef(vm);
    if (event.action === 'oom') {
      if (vm.oomKilledAt && vm.oomKilledAt >= at) return null;
      vm.oomKilledAt = at;
      logVmEvent(state, vm, 'oom', 'a process ran out of memory (plan limit)', event.time);
      return {
        ref,
        user: vm.user,
        kind: 'vm-oom' as const,
        text: `A process in your VM ${ref} ran out of memory and was killed (plan limit reached).`,
      };
    }
    if (event.action === 'die') {
      vm.lastExitCode = event.exitCode ?? vm.lastExitCode;
      if (vm.desired !== 'running') return null;
      // The same death replayed (the events follower reconnected and read it again): logged and told once.
      if (vm.lastStoppedAt === at && (vm.stopReason === 'exited' || vm.stopReason === 'oom')) return null;
      // Not berth's doing: the VM died (Docker restarts it, restart policy unless-stopped).
      vm.lastStoppedAt = at;
      vm.stopReason = vm.oomKilledAt && Date.parse(at) - Date.parse(vm.oomKilledAt) < 5000 ? 'oom' : 'exited';
      logVmEvent(state, vm, 'die', `exit code ${event.exitCode ?? '?'}${vm.stopReason === 'oom' ? ', out of memory' : ''}`, event.time);
      return {
        ref,
        user: vm.user,
        kind: 'vm-died' as const,
        text: `Your VM ${ref} stopped unexpectedly (exit code ${event.exitCode ?? '?'}${vm.stopReason === 'oom' ? ', out of memory' : ''}).`,
      };
    }
    if (vm.desired === 'running' && (!vm.lastStartedAt || vm.lastStartedAt < at)) {
      // After a death berth did not cause, the engine's restart policy brings the VM back.
      if ((vm.stopReason === 'exited' || vm.stopReason === 'oom') && (vm.lastStoppedAt ?? '') <= at) {
        logVmEvent(state, vm, 'start', 'restarted by the engine', event.time);
      }
      vm.lastStartedAt = at;
    }
    return null;
  });
  if (!outcome) return null;
  await ctx.notifier.send({ kind: outcome.kind, to: outcome.user, vm: outcome.ref, text: outcome.text });
  return `${event.action} ${outcome.ref}`;
}
