import type { Berth } from './context.js';

export interface HostSummary {
  /** The engine host's name. */
  name: string;
  engineVersion: string;
  cpus: number;
  memoryBytes: number;
  /** What VMs berth wants running reserve: CPUs and memory of their plans. */
  reserved: { cpus: number; memoryBytes: number; vms: number };
}

/** The Docker host berth runs on, and how much of it running VMs reserve. */
export async function hostSummary(ctx: Berth): Promise<HostSummary> {
  const runtime = await ctx.runtime();
  const [info, version, state] = await Promise.all([runtime.hostInfo(), runtime.version(), ctx.store.read()]);
  const running = state.vms.filter((vm) => vm.desired === 'running');
  return {
    name: info.name,
    engineVersion: version.version,
    cpus: info.cpus,
    memoryBytes: info.memoryBytes,
    reserved: {
      cpus: Math.round(running.reduce((sum, vm) => sum + vm.resources.cpu, 0) * 100) / 100,
      memoryBytes: running.reduce((sum, vm) => sum + vm.resources.memoryBytes, 0),
      vms: running.length,
    },
  };
}
