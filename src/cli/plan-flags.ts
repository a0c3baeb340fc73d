import { Flags } from '@oclif/core';
import { DEFAULT_APP_LIMITS } from '../domain/apps.js';
import type { PlanSpec } from '../services/people/plans.js';
import { formatDuration } from '../values/durations.js';
import { formatSize } from '../values/sizes.js';

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
  apps: Flags.string({
    description: `most apps (long-running bots and services) per user (0 = none; default ${DEFAULT_APP_LIMITS.maxApps})`,
  }),
  'app-cpu': Flags.string({ description: `CPUs of each app, e.g. 0.25 (default ${DEFAULT_APP_LIMITS.cpu})` }),
  'app-ram': Flags.string({ description: `memory of each app, e.g. 128m (default ${formatSize(DEFAULT_APP_LIMITS.memoryBytes)})` }),
  'app-pids': Flags.string({ description: `most processes in each app, 16–100000 (default ${DEFAULT_APP_LIMITS.pids})` }),
  'app-lifetime': Flags.string({
    description: `stop apps running longer than this, e.g. 7d (0 = never; default ${formatDuration(DEFAULT_APP_LIMITS.lifetimeSeconds)})`,
  }),
  backup: Flags.string({ description: "back its users' homes up: off (default), daily or hourly" }),
  keep: Flags.string({ description: 'snapshots of each home kept, e.g. 7d,4w,12m (default 7d,4w)' }),
  'backup-self': Flags.boolean({ description: 'its users may list, take and restore their own backups from chat', allowNo: true }),
  record: Flags.string({
    description: "record its users' SSH and web-terminal sessions: off, output, output+input, or default (follow config sessions.record)",
  }),
  'app-public': Flags.boolean({ description: "anyone (not only the owner) may open the apps' web ports", allowNo: true }),
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
  apps?: string;
  'app-cpu'?: string;
  'app-ram'?: string;
  'app-pids'?: string;
  'app-lifetime'?: string;
  'app-public'?: boolean;
  record?: string;
  backup?: string;
  keep?: string;
  'backup-self'?: boolean;
}): PlanSpec {
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
    apps: flags.apps,
    appCpu: flags['app-cpu'],
    appRam: flags['app-ram'],
    appPids: flags['app-pids'],
    appLifetime: flags['app-lifetime'],
    appPublic: flags['app-public'],
    record: flags.record,
    backup: flags.backup,
    keep: flags.keep,
    backupSelf: flags['backup-self'],
  };
}
