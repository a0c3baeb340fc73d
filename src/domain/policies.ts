import { BerthError } from '../errors.js';
import type { Plan, Resources, State, User, Vm } from '../state/schema.js';
import type { ConfigValues } from '../values/config-keys.js';
import { formatSize } from '../values/sizes.js';
import { type Actor, mayReach } from './actor.js';
import { maintenanceWindow } from './maintenance-window.js';

/** What a VM on `plan` gets: the plan's values, the global defaults where it is silent. */
export function resourcesFor(plan: Plan, config: ConfigValues): Resources {
  return {
    cpu: plan.cpu ?? config.cpu,
    memoryBytes: plan.ramBytes ?? config.ram,
    pids: plan.pids,
    gpu: config.gpu ? plan.gpu : 0,
    sudo: plan.sudo,
    diskBytes: plan.diskBytes ?? config.disk,
    rootfsBytes: plan.rootfsBytes ?? config.rootfs,
  };
}

export function checkAccess(actor: Actor, owner: string): void {
  if (!mayReach(actor, owner)) {
    // The same words as for a VM that does not exist: nothing is told about other users.
    throw new BerthError('VM_NOT_FOUND', 'There is no such VM.', 'See your VMs with /status.');
  }
}

export function checkMayOwnVms(user: User): void {
  if (user.status !== 'allowed') {
    throw new BerthError(
      'USER_NOT_ALLOWED',
      `User "${user.login}" is ${user.status}; only allowed users have VMs.`,
      `Allow them first: berth user allow ${user.login}`,
    );
  }
}

export function checkMaintenance(state: State, actor: Actor, action: string): void {
  const m = state.maintenance;
  // Only admins bypass maintenance, and only when they say so.
  if (m.on && !(actor.role === 'admin' && actor.bypassMaintenance)) {
    throw new BerthError(
      'MAINTENANCE',
      `berth is in maintenance${maintenanceWindow(m)}: VMs cannot be ${action} now.`,
      actor.reach === 'any' ? 'Wait for maintenance to end, or pass --force to do it anyway.' : 'Try again when maintenance is over.',
    );
  }
}

export function checkQuotas(state: State, user: User, plan: Plan, config: ConfigValues): void {
  const own = state.vms.filter((vm) => vm.user === user.login).length;
  if (own >= plan.maxVms) {
    throw new BerthError(
      'QUOTA_EXCEEDED',
      `User "${user.login}" has ${own} VM(s); plan "${plan.name}" allows ${plan.maxVms}.`,
      `Destroy one, or raise the limit: berth plan set ${plan.name} --max-vms ${plan.maxVms + 1}`,
    );
  }
  if (config['max-vms'] > 0 && state.vms.length >= config['max-vms']) {
    throw new BerthError(
      'HOST_QUOTA_EXCEEDED',
      `The host has ${state.vms.length} VMs, the most config max-vms allows.`,
      `Destroy a VM, or raise it: berth config set max-vms ${config['max-vms'] + 1}`,
    );
  }
}

export function checkCpus(resources: Resources, hostCpus: number): void {
  if (resources.cpu > hostCpus) {
    throw new BerthError(
      'CPU_EXCEEDS_HOST',
      `This VM asks for ${resources.cpu} CPUs, but the Docker host has ${hostCpus}.`,
      'Use a plan with fewer CPUs, or lower this one: berth plan set PLAN --cpu N',
    );
  }
}

export function checkGpu(resources: Resources, runtimes: string[]): void {
  if ((resources.gpu === 'all' || resources.gpu > 0) && !runtimes.includes('nvidia')) {
    throw new BerthError(
      'GPU_UNAVAILABLE',
      `This VM asks for ${resources.gpu === 'all' ? 'all GPUs' : `${resources.gpu} GPU(s)`}, but the Docker engine has no nvidia runtime.`,
      'Install the NVIDIA Container Toolkit on the host, or turn GPUs off: berth config set gpu off',
    );
  }
}

/** Running VMs (desired) may reserve at most host memory × overcommit. */
export function checkCapacity(state: State, starting: Vm | Resources, hostMemory: number, overcommit: number, skip?: Vm): void {
  const wanted = 'resources' in starting ? starting.resources.memoryBytes : starting.memoryBytes;
  const used = state.vms
    .filter((vm) => vm.desired === 'running' && vm !== skip && vm !== starting)
    .reduce((sum, vm) => sum + vm.resources.memoryBytes, 0);
  const limit = Math.floor(hostMemory * overcommit);
  if (used + wanted > limit) {
    throw new BerthError(
      'CAPACITY_EXCEEDED',
      `Not enough memory: this VM needs ${formatSize(wanted)}, running VMs reserve ${formatSize(used)} of ${formatSize(limit)} (host memory × overcommit ${overcommit}).`,
      'Stop a VM, choose a smaller plan, or raise berth config overcommit.',
    );
  }
}
