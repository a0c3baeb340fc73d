import { vmRef } from '../../domain/lookups.js';
import type { Vm } from '../../state/schema.js';
import type { Berth } from '../core/context.js';
import { logVmEvent } from './vm-event-log.js';

export interface VmEvent {
  containerId: string;
  action: 'start' | 'die' | 'oom';
  exitCode?: number;
  time: Date;
  /** The container's labels (user and VM name), from the event: a Swarm task's new container is found by them. */
  labels?: { user?: string; vm?: string };
  /** The Swarm node whose engine said it (its hostname), named in the event log. */
  node?: string;
}

/**
 * Records what the engine says happened to a VM (it started, died, ran out of
 * memory) and tells its owner when it was not berth's doing.
 */
export async function recordVmEvent(ctx: Berth, event: VmEvent): Promise<string | null> {
  const at = event.time.toISOString();
  const outcome = await ctx.store.transact((state) => {
    // On Swarm a VM's task gets a new container when its process exits; until berth takes it on
    // (takeOnTask: its hardening checked first) its events are known by its labels.
    const vm = state.vms.find((v) => v.containerId === event.containerId) ?? swarmVmOf(state.vms, event);
    if (!vm) return null;
    const ref = vmRef(vm);
    const where = event.node ? ` on node ${event.node}` : '';
    if (event.action === 'oom') {
      if (vm.oomKilledAt && vm.oomKilledAt >= at) return null;
      vm.oomKilledAt = at;
      logVmEvent(state, vm, 'oom', `a process ran out of memory (plan limit)${where}`, event.time);
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
      logVmEvent(
        state,
        vm,
        'die',
        `exit code ${event.exitCode ?? '?'}${vm.stopReason === 'oom' ? ', out of memory' : ''}${where}`,
        event.time,
      );
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
        logVmEvent(state, vm, 'start', `restarted by the engine${where}`, event.time);
      }
      vm.lastStartedAt = at;
    }
    return null;
  });
  if (!outcome) return null;
  await ctx.notifier.send({ kind: outcome.kind, to: outcome.user, vm: outcome.ref, text: outcome.text });
  return `${event.action} ${outcome.ref}`;
}

/** The Swarm VM (one with a node) whose labels a container event carries. */
function swarmVmOf<T extends Vm>(vms: readonly T[], event: Pick<VmEvent, 'labels'>): T | undefined {
  const { user, vm: name } = event.labels ?? {};
  if (!user || !name) return undefined;
  return vms.find((v) => v.user === user && v.name === name && v.node && v.phase === 'ready');
}

/** How long Swarm has to say a new container's task runs before berth stops waiting for it. */
const TAKE_ON_MS = 10_000;

/**
 * Swarm started a container for a VM that is not the record's (it replaced the VM's task): the
 * record takes it on through the VM's backend, which checks its hardening first (and removes a
 * service whose container lost any: HARDENING_LOST). True once the record has it.
 */
export async function takeOnTask(ctx: Berth, event: Pick<VmEvent, 'containerId' | 'labels'>): Promise<boolean> {
  const end = Date.now() + TAKE_ON_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    const state = await ctx.store.read();
    if (state.vms.some((v) => v.containerId === event.containerId)) return true;
    const vm = swarmVmOf(state.vms, event);
    if (vm?.desired !== 'running') return false;
    if ((await (await ctx.backend()).containerOf(vm)) === event.containerId) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
}
