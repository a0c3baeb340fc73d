import type { Berth } from '../core/context.js';

export interface HostSummary {
  /** The engine host's name. */
  name: string;
  engineVersion: string;
  cpus: number;
  memoryBytes: number;
  /** What VMs berth wants running reserve: CPUs and memory of their plans. */
  reserved: { cpus: number; memoryBytes: number; vms: number };
}

/** The engine's host: what changes rarely (a caller may keep it a while). */
export type EngineHost = Omit<HostSummary, 'reserved'>;

export async function engineHost(ctx: Berth): Promise<EngineHost> {
  const runtime = await ctx.runtime();
  const [info, version] = await Promise.all([runtime.hostInfo(), runtime.version()]);
  return { name: info.name, engineVersion: version.version, cpus: info.cpus, memoryBytes: info.memoryBytes };
}

/**
 * The Docker host berth runs on, and how much of it running VMs reserve. `engine` is
 * the host as read a moment ago, when the caller keeps it; read now otherwise.
 */
export async function hostSummary(ctx: Berth, engine?: Promise<EngineHost>): Promise<HostSummary> {
  const [host, state] = await Promise.all([engine ?? engineHost(ctx), ctx.store.read()]);
  const running = state.vms.filter((vm) => vm.desired === 'running');
  return {
    ...host,
    reserved: {
      cpus: Math.round(running.reduce((sum, vm) => sum + vm.resources.cpu, 0) * 100) / 100,
      memoryBytes: running.reduce((sum, vm) => sum + vm.resources.memoryBytes, 0),
      vms: running.length,
    },
  };
}
