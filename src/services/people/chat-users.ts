import { type Actor, loginActor } from '../../domain/actor.js';
import { findPlan, findUser } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import type { State, User } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { type ConfigValues, effectiveConfig, parseDiscordId, parseTelegramId } from '../../values/config-keys.js';
import { checkLogin, LOGIN_PATTERN, printable } from '../../values/names.js';
import { allowUser } from './users.js';

/** The chat bots a person can reach berth through. */
export type FrontEnd = 'telegram' | 'discord';
export const FRONT_ENDS: readonly FrontEnd[] = ['telegram', 'discord'];

/** How a front-end is called in messages. */
export const FRONT_END_NAMES: Record<FrontEnd, string> = { telegram: 'Telegram', discord: 'Discord' };

/**
 * A chat account: Telegram ids as decimal strings, Discord snowflakes. roles: the Discord member's
 * roles where the interaction came from an allowed guild.
 */
export interface ChatAccount {
  frontEnd: FrontEnd;
  id: string;
  username?: string;
  roles?: string[];
}

/** Who a chat account is to berth. */
export interface ChatIdentity {
  user?: User;
  /** An allowed admin user, an id in `telegram.admins` / `discord.admins`, or a member of `discord.admin-role`. */
  admin: boolean;
}

/** The account id of `user` on a front-end (Telegram ids as decimal strings). */
export function accountOf(user: User, frontEnd: FrontEnd): string | undefined {
  if (frontEnd === 'telegram') return user.telegramId === undefined ? undefined : String(user.telegramId);
  return user.discordId;
}

/** The user who holds a chat account, if any. */
export function userOfAccount(state: State, account: Pick<ChatAccount, 'frontEnd' | 'id'>): User | undefined {
  return state.users.find((u) => accountOf(u, account.frontEnd) === account.id);
}

/** A well-formed account id of that front-end (a Telegram id as the number berth stores). */
function checkAccountId(account: Pick<ChatAccount, 'frontEnd' | 'id'>): string {
  return account.frontEnd === 'telegram' ? String(parseTelegramId(account.id)) : parseDiscordId(account.id);
}

/** The ids configured as admins of a front-end (`telegram.admins`, `discord.admins`), as strings. */
function configuredAdminIds(config: ConfigValues, frontEnd: FrontEnd): string[] {
  return frontEnd === 'telegram' ? config['telegram.admins'].map(String) : [...config['discord.admins']];
}

/** An admin by configuration: by id, or (Discord) by holding `discord.admin-role`. */
function configuredAdmin(config: ConfigValues, account: ChatAccount): 'id' | 'role' | false {
  if (configuredAdminIds(config, account.frontEnd).includes(account.id)) return 'id';
  const role = config['discord.admin-role'];
  if (account.frontEnd === 'discord' && role !== '' && account.roles?.includes(role)) return 'role';
  return false;
}

const isAllowedAdmin = (user: User | undefined) => user?.role === 'admin' && user.status === 'allowed';

export function identifyAccount(state: State, account: ChatAccount): ChatIdentity {
  const user = userOfAccount(state, account);
  const admin = configuredAdmin(effectiveConfig(state.config), account) !== false || isAllowedAdmin(user);
  return { user, admin };
}

/**
 * The actor a chat account's user commands act as: on its own login's VMs only, admins included
 * (who may act during maintenance). On Discord an admin is told apart in the event log
 * ("admin LOGIN (discord)"); Telegram's actor is as it always was ("admin LOGIN").
 */
export function chatActor(identity: ChatIdentity, frontEnd: FrontEnd): Actor {
  const login = identity.user?.login;
  if (!login) return { role: identity.admin ? 'admin' : 'user', reach: 'own' };
  const actor = loginActor(login, identity.admin ? 'admin' : 'user');
  return identity.admin && frontEnd === 'discord' ? { ...actor, label: `admin ${login} (discord)` } : actor;
}

/** Sorts decimal ids by value (Discord's do not fit a number). */
const byNumber = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every account of a front-end that gets admin powers and can be written to: the configured ids and
 * allowed admin users' ids (members of `discord.admin-role` cannot be listed).
 */
export function adminAccounts(state: State, frontEnd: FrontEnd): string[] {
  const ids = new Set(configuredAdminIds(effectiveConfig(state.config), frontEnd));
  for (const u of state.users) {
    const id = accountOf(u, frontEnd);
    if (id !== undefined && isAllowedAdmin(u)) ids.add(id);
  }
  return [...ids].sort(byNumber);
}

/**
 * A login from a chat username (lowercased, other characters dropped) or `u<Telegram id>` /
 * `d<Discord id>`, never taken or reserved.
 */
export function deriveAccountLogin(state: State, account: Pick<ChatAccount, 'frontEnd' | 'id' | 'username'>): string {
  const base = (account.username ?? '')
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
  const first = base.length >= 2 ? base : `${account.frontEnd === 'telegram' ? 'u' : 'd'}${account.id}`.slice(0, 28);
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
  /** The waiting list holds `telegram.max-pending` users already (both bots share it): nobody was added. */
  | { outcome: 'full'; pending: number };

/** How many users wait for an admin's decision (from either bot). */
export function pendingCount(state: State): number {
  return state.users.reduce((n, u) => n + (u.status === 'pending' ? 1 : 0), 0);
}

/** A new user record holding a chat account. */
function accountUser(state: State, account: ChatAccount, role: User['role'], status: User['status']): User {
  const config = effectiveConfig(state.config);
  return {
    id: newId(),
    login: deriveAccountLogin(state, account),
    ...(account.frontEnd === 'telegram' ? { telegramId: Number(account.id) } : { discordId: account.id }),
    role,
    plan: findPlan(state, config['default-plan']).name,
    status,
    createdAt: new Date().toISOString(),
    keys: [],
  };
}

/**
 * A `/start` from either bot: a stranger becomes a pending user, unless `telegram.max-pending`
 * users are pending already (both bots together, checked in the same transaction, so racing
 * requests never pass the cap). An id in `telegram.admins` / `discord.admins` becomes an allowed
 * admin at once; a member of `discord.admin-role` an allowed user at once (their admin powers come
 * from the role, and end with it). Known users are returned as they are.
 */
export async function requestAccountAccess(store: StateStore, account: ChatAccount): Promise<AccessRequest> {
  const checked = { ...account, id: checkAccountId(account) };
  return store.transact((state) => {
    const existing = userOfAccount(state, checked);
    if (existing) {
      const outcome = existing.status === 'allowed' ? 'allowed' : existing.status === 'pending' ? 'pending' : 'refused';
      return { outcome, user: existing };
    }
    const config = effectiveConfig(state.config);
    const configured = configuredAdmin(config, checked);
    const pending = pendingCount(state);
    if (!configured && pending >= config['telegram.max-pending']) return { outcome: 'full', pending };
    const user = accountUser(state, checked, configured === 'id' ? 'admin' : 'user', configured ? 'allowed' : 'pending');
    state.users.push(user);
    return { outcome: configured ? 'allowed' : 'created', user };
  });
}

/** Marks whether a user blocked the bot of that front-end (its notices skip them until they write again). */
export async function setAccountBlocked(store: StateStore, account: ChatAccount, blocked: boolean): Promise<void> {
  const field = account.frontEnd === 'telegram' ? 'telegramBlocked' : 'discordBlocked';
  const user = userOfAccount(await store.read(), account);
  if (!user || Boolean(user[field]) === blocked) return;
  await store.transact((s) => {
    const u = userOfAccount(s, account);
    if (!u) return;
    if (blocked) u[field] = true;
    else delete u[field];
  });
}

/**
 * A user named by login, Telegram id or Discord id (admin commands accept each): a number of 17
 * to 20 digits is tried as a Discord id first, a shorter one as a Telegram id.
 */
export function findUserByRef(state: State, ref: string): User {
  const text = ref.trim();
  if (/^\d+$/.test(text)) {
    const byDiscord = () => state.users.find((u) => u.discordId === text);
    const byTelegram = () => state.users.find((u) => u.telegramId !== undefined && String(u.telegramId) === text);
    const user = text.length >= 17 ? (byDiscord() ?? byTelegram()) : byTelegram();
    if (user) return user;
    throw new BerthError(
      'USER_NOT_FOUND',
      `No user has the Telegram or Discord id ${printable(text).slice(0, 24)}.`,
      'See `berth user list` (or /users in the bot), or name the user by login.',
    );
  }
  return findUser(state, text.toLowerCase().replace(/^@/, ''));
}

/**
 * An admin's `/allow_user ID [plan] [login]`: allows the user holding that chat account, or adds
 * one (login given, else derived). A login that belongs to another account is refused.
 */
export async function allowAccount(
  store: StateStore,
  account: ChatAccount,
  options: { plan?: string; login?: string } = {},
): Promise<{ user: User; created: boolean }> {
  const checked = { ...account, id: checkAccountId(account) };
  const wanted = options.login === undefined ? undefined : checkLogin(options.login.toLowerCase().replace(/^@/, ''));
  const state = await store.read();
  const holder = userOfAccount(state, checked);
  const owner = wanted === undefined ? undefined : state.users.find((u) => u.login === wanted);
  if (owner && accountOf(owner, checked.frontEnd) !== checked.id) {
    throw new BerthError(
      'LOGIN_TAKEN',
      `The login "${wanted}" belongs to another account.`,
      'Pick another login, or leave it out to derive one.',
    );
  }
  if (holder && wanted !== undefined && holder.login !== wanted) {
    const name = FRONT_END_NAMES[checked.frontEnd];
    throw new BerthError(
      checked.frontEnd === 'telegram' ? 'TELEGRAM_ID_TAKEN' : 'DISCORD_ID_TAKEN',
      `${name} id ${checked.id} already belongs to "${holder.login}".`,
      `Use /approve ${holder.login} or leave the login out.`,
    );
  }
  const login = holder?.login ?? wanted ?? deriveAccountLogin(state, checked);
  return allowUser(store, login, {
    ...(checked.frontEnd === 'telegram' ? { telegramId: checked.id } : { discordId: checked.id }),
    plan: options.plan,
  });
}
