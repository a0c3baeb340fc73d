import { z } from 'zod';
import type { Vm } from '../state/schema.js';
import { formatSize } from '../values/sizes.js';

export const ENGINE_STATES = [
  'creating',
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
  'missing',
  /** On Swarm: the engine of the VM's node does not answer. */
  'node-down',
] as const;
export type EngineState = (typeof ENGINE_STATES)[number];

/** The machine shape of a VM in `--json` output and the API. */
export const VmViewSchema = z.object({
  ref: z.string(),
  user: z.string(),
  name: z.string(),
  plan: z.string(),
  image: z.string(),
  /** What berth wants. */
  desired: z.enum(['running', 'stopped']),
  /** What the engine says. */
  state: z.enum(ENGINE_STATES),
  containerId: z.string().nullable(),
  /** On Swarm: the node that holds it (its Swarm node id); null: the one engine (or the manager's, for a VM made before swarm mode). */
  node: z.string().nullable(),
  cpu: z.number(),
  ram: z.string(),
  ramBytes: z.number(),
  pids: z.number(),
  gpu: z.union([z.number(), z.literal('all')]),
  sudo: z.boolean(),
  createdAt: z.string(),
  lastStartedAt: z.string().nullable(),
  lastStoppedAt: z.string().nullable(),
  lastExitCode: z.number().nullable(),
  oomKilledAt: z.string().nullable(),
  /** Why it was last stopped: operator, user, maintenance, idle, lifetime, exited, oom. */
  stopReason: z.string().nullable(),
  /** When berth will stop it on its own (idle timeout or plan lifetime), if it will. */
  nextStop: z.object({ at: z.string(), reason: z.string() }).nullable(),
  /** The home it mounts (see berth home list). */
  home: z.string(),
  /** The home's quota in bytes; null: no quota (VMs made before quotas, or plans with --disk 0). */
  diskBytes: z.number().nullable(),
  /** What the home's filesystem takes (homes with a quota); null: not known. */
  diskUsedBytes: z.number().nullable(),
  /** The limit on what it writes outside its home; null: none. */
  rootfsBytes: z.number().nullable(),
  /** What it wrote outside its home (measured for `vm show` only); null: not measured. */
  rootfsUsedBytes: z.number().nullable(),
  /** The coding agents its image has (label dev.berth.agents; `vm show` only). */
  agents: z.array(z.string()).optional(),
  /** Whether an agent run is in progress in it; null: no daemon answered (`vm show` only). */
  agentRunning: z.boolean().nullable().optional(),
});
export type VmView = z.infer<typeof VmViewSchema>;

export interface DiskUse {
  usedBytes: number | null;
  rootfsUsedBytes: number | null;
}

export function vmView(
  vm: Vm,
  state: EngineState,
  nextStop: { at: string; reason: string } | null = null,
  disk: DiskUse = { usedBytes: null, rootfsUsedBytes: null },
): VmView {
  return {
    ref: `${vm.user}/${vm.name}`,
    user: vm.user,
    name: vm.name,
    plan: vm.plan,
    image: vm.image,
    desired: vm.desired,
    state,
    containerId: vm.containerId?.slice(0, 12) ?? null,
    node: vm.node ?? null,
    cpu: vm.resources.cpu,
    ram: formatSize(vm.resources.memoryBytes),
    ramBytes: vm.resources.memoryBytes,
    pids: vm.resources.pids,
    gpu: vm.resources.gpu,
    sudo: vm.resources.sudo,
    createdAt: vm.createdAt,
    lastStartedAt: vm.lastStartedAt ?? null,
    lastStoppedAt: vm.lastStoppedAt ?? null,
    lastExitCode: vm.lastExitCode ?? null,
    oomKilledAt: vm.oomKilledAt ?? null,
    stopReason: vm.stopReason ?? null,
    nextStop,
    home: vm.home,
    diskBytes: vm.resources.diskBytes ? vm.resources.diskBytes : null,
    diskUsedBytes: disk.usedBytes,
    rootfsBytes: vm.resources.rootfsBytes ? vm.resources.rootfsBytes : null,
    rootfsUsedBytes: disk.rootfsUsedBytes,
  };
}
