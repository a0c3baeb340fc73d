import type { Actor } from '../../domain/actor.js';
import type { State, User } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import {
  type AccessRequest,
  adminAccounts,
  allowAccount,
  type ChatIdentity,
  chatActor,
  deriveAccountLogin,
  findUserByRef,
  identifyAccount,
  requestAccountAccess,
  setAccountBlocked,
} from './chat-users.js';

// The Telegram bot's names for the rules of chat-users.ts (Telegram ids as numbers).

export type { AccessRequest } from './chat-users.js';
export { pendingCount } from './chat-users.js';

/** Who a Telegram account is to berth. */
export type TelegramIdentity = ChatIdentity;

const telegram = (telegramId: number, username?: string) => ({ frontEnd: 'telegram' as const, id: String(telegramId), username });

export function identify(state: State, telegramId: number): TelegramIdentity {
  return identifyAccount(state, telegram(telegramId));
}

/**
 * The actor a Telegram account's user commands act as: on its own login's VMs only, admins
 * included (who may act during maintenance). Admin commands that act on others use their own actor.
 */
export function telegramActor(identity: TelegramIdentity): Actor {
  return chatActor(identity, 'telegram');
}

/** Every Telegram id that gets admin powers in the bot. */
export function adminIds(state: State): number[] {
  return adminAccounts(state, 'telegram').map(Number);
}

/** A login from a Telegram username (lowercased, other characters dropped) or `u<id>`, never taken or reserved. */
export function deriveLogin(state: State, telegramId: number, username?: string): string {
  return deriveAccountLogin(state, telegram(telegramId, username));
}

/** A Telegram `/start` (see requestAccountAccess). */
export async function requestAccess(store: StateStore, telegramId: number, username?: string): Promise<AccessRequest> {
  return requestAccountAccess(store, telegram(telegramId, username));
}

/** Marks whether a user blocked the bot (notices skip them until they write again). */
export async function setTelegramBlocked(store: StateStore, telegramId: number, blocked: boolean): Promise<void> {
  return setAccountBlocked(store, telegram(telegramId), blocked);
}

/** A user named by login, Telegram id or Discord id (admin commands accept each). */
export function findUserByLoginOrId(state: State, ref: string): User {
  return findUserByRef(state, ref);
}

/**
 * An admin's `/allow_user ID [plan] [login]`: allows the user with that Telegram id, or
 * adds one (login given, else derived). A login that belongs to another account is refused.
 */
export async function allowTelegramUser(
  store: StateStore,
  telegramId: number,
  options: { plan?: string; login?: string } = {},
): Promise<{ user: User; created: boolean }> {
  return allowAccount(store, telegram(telegramId), options);
}
