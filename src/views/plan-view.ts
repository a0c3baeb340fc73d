import { z } from 'zod';
import { appLimits } from '../domain/apps.js';
import { usersOnPlan } from '../domain/lookups.js';
import type { Plan, State } from '../state/schema.js';
import { DEFAULT_KEEP } from '../values/backup.js';
import { formatDuration } from '../values/durations.js';
import { formatDiskSize, formatSize } from '../values/sizes.js';

/** The machine shape of a plan in `--json` output and the API. */
export const PlanViewSchema = z.object({
  name: z.string(),
  /** null: the global `cpu` default applies. */
  cpu: z.number().nullable(),
  /** null: the global `ram` default applies. */
  ram: z.string().nullable(),
  ramBytes: z.number().nullable(),
  gpu: z.union([z.number(), z.literal('all')]),
  pids: z.number(),
  maxVms: z.number(),
  sudo: z.boolean(),
  /** e.g. `24h`; `0` = no limit. */
  maxLifetime: z.string(),
  /** Home quota, e.g. `20g`, `none`; null: the global `disk` default applies. */
  disk: z.string().nullable(),
  diskBytes: z.number().nullable(),
  /** Limit outside the home; null: the global `rootfs` default applies. */
  rootfs: z.string().nullable(),
  rootfsBytes: z.number().nullable(),
  /** What a coding agent may do in the plan's VMs: off, read-only, edit, full. */
  agent: z.enum(['off', 'read-only', 'edit', 'full']),
  /** Its users' sessions recorded (off, output, output+input); null: config sessions.record applies. */
  record: z.enum(['off', 'output', 'output+input']).nullable(),
  /** Backups of its users' homes: how often, how many kept, and whether users manage their own. */
  backup: z.object({ schedule: z.enum(['off', 'daily', 'hourly']), keep: z.string(), self: z.boolean() }),
  description: z.string(),
  users: z.array(z.string()),
  /** What each of its users' apps gets: the plan's values, or berth's defaults where it says nothing. */
  apps: z.object({
    /** Most apps per user (0 = none). */
    max: z.number(),
    cpu: z.number(),
    /** e.g. `256m`. */
    ram: z.string(),
    ramBytes: z.number(),
    pids: z.number(),
    /** e.g. `24h`; `0` = no limit. */
    lifetime: z.string(),
    lifetimeSeconds: z.number(),
    /** Anyone (not only the owner) may open its apps' web ports. */
    public: z.boolean(),
  }),
});
export type PlanView = z.infer<typeof PlanViewSchema>;

export function planView(plan: Plan, state: State): PlanView {
  return {
    name: plan.name,
    cpu: plan.cpu ?? null,
    ram: plan.ramBytes === undefined ? null : formatSize(plan.ramBytes),
    ramBytes: plan.ramBytes ?? null,
    gpu: plan.gpu,
    pids: plan.pids,
    maxVms: plan.maxVms,
    sudo: plan.sudo,
    maxLifetime: formatDuration(plan.maxLifetimeSeconds),
    disk: plan.diskBytes === undefined ? null : formatDiskSize(plan.diskBytes),
    diskBytes: plan.diskBytes ?? null,
    rootfs: plan.rootfsBytes === undefined ? null : formatDiskSize(plan.rootfsBytes),
    rootfsBytes: plan.rootfsBytes ?? null,
    agent: plan.agent ?? 'off',
    record: plan.record ?? null,
    backup: { schedule: plan.backup ?? 'off', keep: plan.backupKeep ?? DEFAULT_KEEP, self: plan.backupSelf ?? false },
    description: plan.description,
    users: usersOnPlan(state, plan.name),
    apps: appLimitsView(plan),
  };
}

function appLimitsView(plan: Plan): PlanView['apps'] {
  const limits = appLimits(plan);
  return {
    max: limits.maxApps,
    cpu: limits.cpu,
    ram: formatSize(limits.memoryBytes),
    ramBytes: limits.memoryBytes,
    pids: limits.pids,
    lifetime: formatDuration(limits.lifetimeSeconds),
    lifetimeSeconds: limits.lifetimeSeconds,
    public: limits.public,
  };
}

/** A plan's app limits in one line for people: `3 apps per user, each 0.5 CPU, 256m RAM, 100 processes, up to 24h`. */
export function appLimitsSummary(plan: PlanView): string {
  const a = plan.apps;
  if (a.max === 0) return 'no apps';
  return `${a.max} app(s) per user, each ${a.cpu} CPU, ${a.ram} RAM, ${a.pids} processes, ${a.lifetime === '0' ? 'no time limit' : `up to ${a.lifetime}`}${a.public ? ', public web ports' : ''}`;
}

/** A value a plan leaves to the global default, as people read it. */
export const orDefault = (value: string | number | null) => (value === null ? 'default' : String(value));

/** One line of a plan for people (`plan add/set`, the bot's /start): `2 CPU, 4g RAM, 0 GPU, …`. */
export function planSummary(plan: PlanView): string {
  return `${orDefault(plan.cpu)} CPU, ${orDefault(plan.ram)} RAM, ${plan.gpu} GPU, ${plan.pids} processes, ${plan.maxVms} VM(s) per user${plan.sudo ? ', sudo' : ''}${plan.agent !== 'off' ? `, agent ${plan.agent}` : ''}${plan.record ? `, sessions recorded: ${plan.record}` : ''}`;
}
