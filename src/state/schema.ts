import { z } from 'zod';
import { ConfigSetSchema } from '../domain/config-keys.js';
import { LOGIN_PATTERN, PLAN_NAME_PATTERN } from '../domain/names.js';

export const STATE_VERSION = 1;

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
    role: z.enum(ROLES),
    plan: z.string(),
    status: z.enum(USER_STATUSES),
    createdAt: z.string(),
    keys: z.array(SshKeySchema),
  })
  .strict();
export type User = z.infer<typeof UserSchema>;

export const StateSchema = z
  .object({
    version: z.literal(STATE_VERSION),
    plans: z.array(PlanSchema),
    users: z.array(UserSchema),
    config: ConfigSetSchema,
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
  });
export type State = z.infer<typeof StateSchema>;

function duplicates(values: string[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const v of values) (seen.has(v) ? dups : seen).add(v);
  return [...dups];
}

export function emptyState(): State {
  return { version: STATE_VERSION, plans: [], users: [], config: {} };
}
