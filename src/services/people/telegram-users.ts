import { type Actor, loginActor } from '../../domain/actor.js';
import { findPlan, findUser } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import type { State, User } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { checkLogin, LOGIN_PATTERN } from '../../values/names.js';
import { allowUser } from './users.js';

/** Who a Telegram account is to berth. */
export interface TelegramIdentity {
  user?: User;
  /** An allowed admin user, or an id in `config telegram.admins`. */
  admin: boolean;
}

export function identify(state: State, telegramId: number): TelegramIdentity {
  const user = state.users.find((u) => u.telegramId === telegramId);
  const configured = effectiveConfig(state.config)['telegram.admins'].includes(telegramId);
  const admin = configured || (user?.role === 'admin' && user.status === 'allowed');
  return { user, admin };
}

/**
 * The actor a Telegram account's user commands act as: on its own login's VMs only, admins
 * included (who may act during maintenance). Admin commands that act on others use their own actor.
 */
export function telegramActor(identity: TelegramIdentity): Actor {
  const login = identity.user?.login;
  if (!login) return { role: identity.admin ? 'admin' : 'user', reach: 'own' };
  return loginActor(login, identity.admin ? 'admin' : 'user');
}

/** Every Telegram id that gets admin powers in the bot. */
export function adminIds(state: State): number[] {
  const ids = new Set(effectiveConfig(state.config)['telegram.admins']);
  for (const u of state.users) if (u.role === 'admin' && u.status === 'allowed' && u.telegramId) ids.add(u.telegramId);
  return [...ids].sort((a, b) => a - b);
}

/** A login from a Telegram username (lowercased, other characters dropped) or `u<id>`, never taken or reserved. */
export function deriveLogin(state: State, telegramId: number, username?: string): string {
  const base = (username ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .replace(/^[^a-z]+/, '')
    .slice(0, 28);
  const usable = (login: string) => {
    if (!LOGIN_PATTERN.test(login) || state.users.some((u) => u.login === login)) return false;
    try {
      checkLogin(login);
      return true;
    } catch {
      return false;
    }
  };
  const first = base.length >= 2 ? base : `u${telegramId}`.slice(0, 28);
  if (usable(first)) return first;
  for (let n = 2; n < 10_000; n++) {
    const candidate = `${first}-${n}`;
    if (usable(candidate)) return candidate;
  }
  throw new BerthError('LOGIN_EXHAUSTED', 'No free login could be derived.', 'Ask an admin to add you with /allow_user.');
}

export type AccessRequest =
  | { outcome: 'created'; user: User }
  | { outcome: 'pending' | 'allowed' | 'refused'; user: User }
  /** The waiting list holds `telegram.max-pending` users already: nobody was added. */
  | { outcome: 'full'; pending: number };

/** How many users wait for an admin's decision. */
export function pendingCount(state: State): number {
  return state.users.reduce((n, u) => n + (u.status === 'pending' ? 1 : 0), 0);
}

/**
 * A Telegram `/start`: a stranger becomes a pending user, unless `telegram.max-pending`
 * users are pending already (checked in the same transaction, so racing requests never pass
 * the cap); an id in `telegram.admins` becomes an allowed admin at once. Known users are
 * returned as they are.
 */
export async function requestAccess(store: StateStore, telegramId: number, username?: string): Promise<AccessRequest> {
  return store.transact((state) => {
    const existing = state.users.find((u) => u.telegramId === telegramId);
    if (existing) {
      const outcome = existing.status === 'allowed' ? 'allowed' : existing.status === 'pending' ? 'pending' : 'refused';
      return { outcome, user: existing };
    }
    const config = effectiveConfig(state.config);
    const configuredAdmin = config['telegram.admins'].includes(telegramId);
    const pending = pendingCount(state);
    if (!configuredAdmin && pending >= config['telegram.max-pending']) return { outcome: 'full', pending };
    const user: User = {
      id: newId(),
      login: deriveLogin(state, telegramId, username),
      telegramId,
      role: configuredAdmin ? 'admin' : 'user',
      plan: findPlan(state, config['default-plan']).name,
      status: configuredAdmin ? 'allowed' : 'pending',
      createdAt: new Date().toISOString(),
      keys: [],
    };
    state.users.push(user);
    return { outcome: configuredAdmin ? 'allowed' : 'created', user };
  });
}

/** Marks whether a user blocked the bot (notices skip them until they write again). */
export async function setTelegramBlocked(store: StateStore, telegramId: number, blocked: boolean): Promise<void> {
  const state = await store.read();
  const user = state.users.find((u) => u.telegramId === telegramId);
  if (!user || Boolean(user.telegramBlocked) === blocked) return;
  await store.transact((s) => {
    const u = s.users.find((x) => x.telegramId === telegramId);
    if (!u) return;
    if (blocked) u.telegramBlocked = true;
    else delete u.telegramBlocked;
  });
}

/** A user named by login or Telegram id (admin commands accept either). */
export function findUserByLoginOrId(state: State, ref: string): User {
  const text = ref.trim();
  if (/^\d+$/.test(text)) {
    const byId = state.users.find((u) => u.telegramId === Number(text));
    if (byId) return byId;
  }
  return findUser(state, text.toLowerCase());
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
  const wanted = options.login === undefined ? undefined : checkLogin(options.login.toLowerCase().replace(/^@/, ''));
  const state = await store.read();
  const holder = state.users.find((u) => u.telegramId === telegramId);
  const owner = wanted === undefined ? undefined : state.users.find((u) => u.login === wanted);
  if (owner && owner.telegramId !== telegramId) {
    throw new BerthError(
      'LOGIN_TAKEN',
      `The login "${wanted}" belongs to another account.`,
      'Pick another login, or leave it out to derive one.',
    );
  }
  if (holder && wanted !== undefined && holder.login !== wanted) {
    throw new BerthError(
      'TELEGRAM_ID_TAKEN',
      `Telegram id ${telegramId} already belongs to "${holder.login}".`,
      `Use /approve ${holder.login} or leave the login out.`,
    );
  }
  const login = holder?.login ?? wanted ?? deriveLogin(state, telegramId);
  return allowUser(store, login, { telegramId, plan: options.plan });
}
