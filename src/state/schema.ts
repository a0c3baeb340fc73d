import { z } from 'zod';
import { ConfigSetSchema } from '../domain/config-keys.js';
import { LOGIN_PATTERN, PLAN_NAME_PATTERN } from '../domain/names.js';

export const STATE_VERSION = 4;

export const PlanSchema = z
  .object({
    name: z.string().regex(PLAN_NAME_PATTERN),
    /** Unset: the global `cpu` default applies. */
    cpu: z.number().positive().optional(),
    /** Unset: the global `ram` default applies. */
    ramBytes: z.number().int().positive().optional(),
    gpu: z.union([z.number().int().min(0), z.literal('all')]),
    pids: z.number().int().positive(),
    maxVms: z.number().int().min(0),
    /** Users may sudo in their VM (and `no-new-privileges` is off). */
    sudo: z.boolean(),
    /** A VM running longer than this is stopped (0 = no limit). */
    maxLifetimeSeconds: z.number().int().min(0),
    description: z.string(),
  })
  .strict();
export type Plan = z.infer<typeof PlanSchema>;

export const SshKeySchema = z
  .object({
    type: z.string(),
    /** The key blob, base64, as in authorized_keys. */
    data: z.string(),
    comment: z.string(),
    fingerprint: z.string(),
    bits: z.number().int().positive(),
    addedAt: z.string(),
  })
  .strict();
export type SshKey = z.infer<typeof SshKeySchema>;

export const USER_STATUSES = ['pending', 'allowed', 'rejected', 'revoked'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const UserSchema = z
  .object({
    login: z.string().regex(LOGIN_PATTERN),
    telegramId: z.number().int().positive().optional(),
    /** The user blocked the bot: notices to them are skipped until they write again. */
    telegramBlocked: z.boolean().optional(),
    role: z.enum(ROLES),
    plan: z.string(),
    status: z.enum(USER_STATUSES),
    createdAt: z.string(),
    keys: z.array(SshKeySchema),
  })
  .strict();
export type User = z.infer<typeof UserSchema>;

export const VM_NAME_PATTERN = PLAN_NAME_PATTERN;

export const STOP_REASONS = ['operator', 'user', 'maintenance', 'idle', 'lifetime', 'exited', 'oom'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** What a VM was given when its container was (re)created. */
export const ResourcesSchema = z
  .object({
    cpu: z.number().positive(),
    memoryBytes: z.number().int().positive(),
    pids: z.number().int().positive(),
    gpu: z.union([z.number().int().min(0), z.literal('all')]),
    sudo: z.boolean(),
  })
  .strict();
export type Resources = z.infer<typeof ResourcesSchema>;

export const VmSchema = z
  .object({
    user: z.string().regex(LOGIN_PATTERN),
    name: z.string().regex(VM_NAME_PATTERN),
    plan: z.string(),
    image: z.string(),
    /** `creating` while its Docker objects are being made (the slot is reserved). */
    phase: z.enum(['creating', 'ready']),
    containerId: z.string().nullable(),
    desired: z.enum(['running', 'stopped']),
    resources: ResourcesSchema,
    createdAt: z.string(),
    lastStartedAt: z.string().optional(),
    lastStoppedAt: z.string().optional(),
    lastExitCode: z.number().int().optional(),
    oomKilledAt: z.string().optional(),
    /** Why berth (or the engine) last stopped it. */
    stopReason: z.enum(STOP_REASONS).optional(),
    /** Last time a session or CPU use showed someone at work (idle policy). */
    lastActiveAt: z.string().optional(),
  })
  .strict();
export type Vm = z.infer<typeof VmSchema>;

export const MaintenanceSchema = z
  .object({
    on: z.boolean(),
    reason: z.string(),
    since: z.string().nullable(),
    /** When a scheduled window ends; null when turned on by hand. */
    until: z.string().nullable(),
    source: z.enum(['operator', 'schedule']).nullable(),
    /** The schedule whose window this is. */
    window: z.string().nullable(),
    /** VMs this maintenance stopped, to start again when it ends. */
    stoppedVms: z.array(z.string()),
  })
  .strict();
export type Maintenance = z.infer<typeof MaintenanceSchema>;

export const ScheduleSchema = z
  .object({
    id: z.string().regex(/^w\d+$/),
    cron: z.string(),
    tz: z.string(),
    durationSeconds: z.number().int().positive(),
    notifySeconds: z.number().int().min(0),
    reason: z.string(),
    createdAt: z.string(),
    /** The occurrence (its start, ISO) last announced and entered: each happens once. */
    notifiedFor: z.string().nullable(),
    enteredFor: z.string().nullable(),
  })
  .strict();
export type Schedule = z.infer<typeof ScheduleSchema>;

export const VM_EVENT_KINDS = [
  'create',
  'start',
  'stop',
  'restart',
  'destroy',
  'die',
  'oom',
  'idle-stop',
  'lifetime-stop',
  'maintenance-stop',
] as const;
export type VmEventKind = (typeof VM_EVENT_KINDS)[number];

/** One line of the VM event log (newest last, bounded): what happened to a VM, and why. */
export const VmEventEntrySchema = z
  .object({
    at: z.string(),
    vm: z.string(),
    user: z.string(),
    kind: z.enum(VM_EVENT_KINDS),
    reason: z.string(),
  })
  .strict();
export type VmEventEntry = z.infer<typeof VmEventEntrySchema>;

export const StateSchema = z
  .object({
    version: z.literal(STATE_VERSION),
    /** Tells this berth home's Docker objects from another's on a shared engine. */
    instanceId: z.string().regex(/^[0-9a-f]{12}$/),
    plans: z.array(PlanSchema),
    users: z.array(UserSchema),
    vms: z.array(VmSchema),
    config: ConfigSetSchema,
    maintenance: MaintenanceSchema,
    schedules: z.array(ScheduleSchema),
    /** The latest VM events (bounded, newest last). */
    events: z.array(VmEventEntrySchema),
  })
  .strict()
  .superRefine((state, ctx) => {
    const problem = (message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    for (const dup of duplicates(state.plans.map((p) => p.name))) problem(`plan "${dup}" appears twice`);
    for (const dup of duplicates(state.users.map((u) => u.login))) problem(`user "${dup}" appears twice`);
    const ids = state.users.flatMap((u) => (u.telegramId === undefined ? [] : [String(u.telegramId)]));
    for (const dup of duplicates(ids)) problem(`Telegram id ${dup} belongs to two users`);
    const keys = state.users.flatMap((u) => u.keys.map((k) => k.fingerprint));
    for (const dup of duplicates(keys)) problem(`SSH key ${dup} is registered twice`);
    const plans = new Set(state.plans.map((p) => p.name));
    for (const user of state.users) {
      if (!plans.has(user.plan)) problem(`user "${user.login}" is on plan "${user.plan}", which does not exist`);
    }
    const logins = new Set(state.users.map((u) => u.login));
    for (const dup of duplicates(state.vms.map((vm) => `${vm.user}-${vm.name}`)))
      problem(`two VMs would share the Docker name berth-${dup}`);
    for (const vm of state.vms) {
      if (!logins.has(vm.user)) problem(`VM ${vm.user}/${vm.name} belongs to a user who does not exist`);
      if (!plans.has(vm.plan)) problem(`VM ${vm.user}/${vm.name} is on plan "${vm.plan}", which does not exist`);
    }
  });
export type State = z.infer<typeof StateSchema>;

function duplicates(values: string[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const v of values) (seen.has(v) ? dups : seen).add(v);
  return [...dups];
}
