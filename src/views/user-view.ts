import { z } from 'zod';
import { ROLES, type SshKey, USER_STATUSES, type User } from '../state/schema.js';

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
