import { Flags } from '@oclif/core';

/** The flags `plan add` and `plan set` share; values are checked by the plan service. */
export const planFlags = {
  cpu: Flags.string({ description: 'CPUs (fractions allowed, e.g. 0.5)' }),
  ram: Flags.string({ description: 'memory, e.g. 512m or 4g' }),
  gpu: Flags.string({ description: 'GPUs: 0, a count, or "all"' }),
  pids: Flags.string({ description: 'most processes in a VM (default 512)' }),
  'max-vms': Flags.string({ description: 'most VMs per user (default 1)' }),
  'max-lifetime': Flags.string({ description: 'stop VMs running longer than this, e.g. 24h (0 = never)' }),
  disk: Flags.string({ description: 'home quota: the home is a filesystem of this size, e.g. 20g (0 = none; default: config disk)' }),
  rootfs: Flags.string({ description: 'most a VM may write outside its home, e.g. 10g (0 = none; default: config rootfs)' }),
  sudo: Flags.boolean({ description: 'users may sudo in their VMs (turns off no-new-privileges)', allowNo: true }),
  agent: Flags.string({ description: 'what a coding agent may do in its VMs, driven from chat: off (default), read-only, edit, full' }),
  description: Flags.string({ description: 'one line shown to users' }),
};

export function planSpecFrom(flags: {
  cpu?: string;
  ram?: string;
  gpu?: string;
  pids?: string;
  'max-vms'?: string;
  sudo?: boolean;
  'max-lifetime'?: string;
  disk?: string;
  rootfs?: string;
  agent?: string;
  description?: string;
}) {
  return {
    cpu: flags.cpu,
    ram: flags.ram,
    gpu: flags.gpu,
    pids: flags.pids,
    maxVms: flags['max-vms'],
    sudo: flags.sudo,
    maxLifetime: flags['max-lifetime'],
    disk: flags.disk,
    rootfs: flags.rootfs,
    agent: flags.agent,
    description: flags.description,
  };
}
