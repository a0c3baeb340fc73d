import { z } from 'zod';
import { appRef } from '../domain/apps.js';
import { APP_STATUSES, type App, ROLES, type SshKey, USER_STATUSES, type User } from '../state/schema.js';

export const KeyViewSchema = z.object({
  type: z.string(),
  fingerprint: z.string(),
  bits: z.number(),
  comment: z.string(),
  publicKey: z.string(),
  addedAt: z.string(),
});
export type KeyView = z.infer<typeof KeyViewSchema>;

/** The machine shape of a user in `--json` output and the API. */
export const UserViewSchema = z.object({
  login: z.string(),
  telegramId: z.number().nullable(),
  /** A Discord snowflake (a string: it does not fit a number). */
  discordId: z.string().nullable(),
  role: z.enum(ROLES),
  plan: z.string(),
  status: z.enum(USER_STATUSES),
  createdAt: z.string(),
  keys: z.array(KeyViewSchema),
});
export type UserView = z.infer<typeof UserViewSchema>;

/** One of a user's apps, as `berth user show` lists it (`berth app show USER/NAME` has the rest). */
export const UserAppViewSchema = z.object({
  /** USER/NAME. */
  ref: z.string(),
  name: z.string(),
  status: z.enum(APP_STATUSES),
  desired: z.enum(['running', 'stopped']),
  /** Restarts after crashes since it was deployed or started by hand. */
  restarts: z.number(),
  startedAt: z.string().nullable(),
  stopReason: z.string().nullable(),
});
export type UserAppView = z.infer<typeof UserAppViewSchema>;

/** `berth user show --json`: the user, with their apps. */
export const UserShowViewSchema = UserViewSchema.extend({ apps: z.array(UserAppViewSchema) });
export type UserShowView = z.infer<typeof UserShowViewSchema>;

export function userAppView(app: App): UserAppView {
  return {
    ref: appRef(app),
    name: app.name,
    status: app.status,
    desired: app.desired,
    restarts: app.restarts,
    startedAt: app.startedAt ?? null,
    stopReason: app.stopReason ?? null,
  };
}

export function keyView(key: SshKey): KeyView {
  return {
    type: key.type,
    fingerprint: key.fingerprint,
    bits: key.bits,
    comment: key.comment,
    publicKey: [key.type, key.data, key.comment].filter(Boolean).join(' '),
    addedAt: key.addedAt,
  };
}

export function userView(user: User): UserView {
  return {
    login: user.login,
    telegramId: user.telegramId ?? null,
    discordId: user.discordId ?? null,
    role: user.role,
    plan: user.plan,
    status: user.status,
    createdAt: user.createdAt,
    keys: user.keys.map(keyView),
  };
}
