import { OPERATOR } from '../../domain/actor.js';
import { findPlan, findUser, vmRef } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import { type Home, ROLES, type Role, type State, type User, type UserStatus } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { effectiveConfig, parseDiscordId, parseTelegramId } from '../../values/config-keys.js';
import { checkLogin, printable } from '../../values/names.js';
import { closeWithdrawnSessions } from '../control/ssh-sessions.js';
import type { Berth } from '../core/context.js';
import { deleteHome, keptHomesOf } from '../vm/homes.js';
import { type BulkFailure, stopVms } from '../vm/vm-bulk.js';
import { logAccessEvent } from '../vm/vm-event-log.js';

export interface UserChanges {
  /** A Telegram id, or null to clear it. */
  telegramId?: string | number | null;
  /** A Discord user id, or null to clear it. */
  discordId?: string | null;
  plan?: string;
  role?: string;
}

export async function listUsers(store: StateStore, filter: { status?: UserStatus } = {}): Promise<User[]> {
  const state = await store.read();
  return state.users.filter((u) => !filter.status || u.status === filter.status);
}

export async function getUser(store: StateStore, login: string): Promise<User> {
  return findUser(await store.read(), checkLogin(login));
}

function parseRole(input: string): Role {
  if (!(ROLES as readonly string[]).includes(input)) {
    throw invalidInput('INVALID_ROLE', `"${printable(input)}" is not a role.`, 'Use user or admin.');
  }
  return input as Role;
}

/** The chat ids a user may hold, each one user's only. */
const CHAT_IDS = {
  telegram: { name: 'Telegram', code: 'TELEGRAM_ID_TAKEN', clear: '--no-telegram-id', of: (u: User) => u.telegramId },
  discord: { name: 'Discord', code: 'DISCORD_ID_TAKEN', clear: '--discord-id none', of: (u: User) => u.discordId },
} as const;

function claimChatId(state: State, kind: keyof typeof CHAT_IDS, id: number | string, login: string): void {
  const { name, code, clear, of } = CHAT_IDS[kind];
  const holder = state.users.find((u) => of(u) === id && u.login !== login);
  if (holder) {
    throw new BerthError(
      code,
      `${name} id ${id} already belongs to user "${holder.login}".`,
      `Clear it there first: berth user set ${holder.login} ${clear}`,
    );
  }
}

/** Allows a login (creating the user if new); an existing user is re-allowed with the changes given. */
export async function allowUser(
  store: StateStore,
  login: string,
  options: { telegramId?: string | number; discordId?: string; plan?: string; admin?: boolean } = {},
): Promise<{ user: User; created: boolean }> {
  checkLogin(login);
  const telegramId = options.telegramId === undefined ? undefined : parseTelegramId(options.telegramId);
  const discordId = options.discordId === undefined ? undefined : parseDiscordId(options.discordId);
  return store.transact((state) => {
    const existing = state.users.find((u) => u.login === login);
    const plan = findPlan(state, options.plan ?? existing?.plan ?? effectiveConfig(state.config)['default-plan']).name;
    if (telegramId !== undefined) claimChatId(state, 'telegram', telegramId, login);
    if (discordId !== undefined) claimChatId(state, 'discord', discordId, login);
    if (existing) {
      existing.status = 'allowed';
      existing.plan = plan;
      if (telegramId !== undefined) existing.telegramId = telegramId;
      if (discordId !== undefined) existing.discordId = discordId;
      if (options.admin) existing.role = 'admin';
      return { user: existing, created: false };
    }
    const user: User = {
      id: newId(),
      login,
      ...(telegramId === undefined ? {} : { telegramId }),
      ...(discordId === undefined ? {} : { discordId }),
      role: options.admin ? 'admin' : 'user',
      plan,
      status: 'allowed',
      createdAt: new Date().toISOString(),
      keys: [],
    };
    state.users.push(user);
    return { user, created: true };
  });
}

export async function setUser(store: StateStore, login: string, changes: UserChanges, by = 'operator'): Promise<User> {
  checkLogin(login);
  const telegramId =
    changes.telegramId === undefined || changes.telegramId === null ? changes.telegramId : parseTelegramId(changes.telegramId);
  const discordId = changes.discordId === undefined || changes.discordId === null ? changes.discordId : parseDiscordId(changes.discordId);
  const role = changes.role === undefined ? undefined : parseRole(changes.role);
  if (telegramId === undefined && discordId === undefined && changes.plan === undefined && role === undefined) {
    throw invalidInput(
      'NOTHING_TO_CHANGE',
      `No change given for user "${login}".`,
      'Pass --plan, --role, --telegram-id, --no-telegram-id or --discord-id (ID, or none to clear it).',
    );
  }
  return store.transact((state) => {
    const user = findUser(state, login);
    if (changes.plan !== undefined) user.plan = findPlan(state, changes.plan).name;
    if (role !== undefined && role !== user.role) {
      // Live SSH sessions were opened under the old role: the gateway ends them.
      logAccessEvent(state, login, `role ${user.role} → ${role} by ${by}`);
      user.role = role;
    }
    if (telegramId === null) delete user.telegramId;
    else if (telegramId !== undefined) {
      claimChatId(state, 'telegram', telegramId, login);
      user.telegramId = telegramId;
    }
    if (discordId === null) {
      delete user.discordId;
      delete user.discordBlocked;
    } else if (discordId !== undefined && discordId !== user.discordId) {
      claimChatId(state, 'discord', discordId, login);
      user.discordId = discordId;
      delete user.discordBlocked;
    }
    return user;
  });
}

export interface RemoveUserOptions {
  /** What becomes of the user's kept homes: deleted, or kept (owned by nobody until given away). */
  homes?: 'delete' | 'keep';
  by?: string;
}

/**
 * Removes a user (who has no VMs left). Their kept homes are never left to whoever gets the login
 * next: the caller says whether to delete them or keep them ownerless (`berth home assign`).
 */
export async function removeUser(ctx: Berth, login: string, options: RemoveUserOptions = {}): Promise<{ user: User; homes: Home[] }> {
  checkLogin(login);
  const state = await ctx.store.read();
  const user = findUser(state, login);
  const apps = (state.apps ?? []).filter((a) => a.user === login).map((a) => `${a.user}/${a.name}`);
  if (apps.length > 0) {
    throw new BerthError(
      'USER_HAS_APPS',
      `User "${login}" still has apps: ${apps.join(', ')}.`,
      `Remove them first: berth app remove ${apps[0]}`,
    );
  }
  const vms = state.vms.filter((vm) => vm.user === login).map(vmRef);
  if (vms.length > 0) {
    throw new BerthError(
      'USER_HAS_VMS',
      `User "${login}" still has VMs: ${vms.join(', ')}.`,
      `Destroy them first: berth vm destroy ${vms[0]} --yes`,
    );
  }
  const kept = keptHomesOf(state, user);
  if (kept.length > 0 && !options.homes) {
    throw new BerthError(
      'USER_HAS_HOMES',
      `User "${login}" has ${kept.length} kept home(s): ${kept.map((h) => `${h.id} (VM ${h.vm})`).join(', ')}.`,
      `Say what to do with them: berth user remove ${login} --delete-homes, or --keep-homes (see berth home list).`,
    );
  }
  if (options.homes === 'delete') for (const home of kept) await deleteHome(ctx, home.id);
  const result = await ctx.store.transact((s) => {
    const current = s.users.find((u) => u.id === user.id);
    if (!current) throw new BerthError('USER_NOT_FOUND', `There is no user "${login}".`, 'It was removed meanwhile.');
    if (s.vms.some((vm) => vm.user === login)) {
      throw new BerthError('USER_HAS_VMS', `User "${login}" got a VM meanwhile.`, 'Destroy it first, then remove the user.');
    }
    const homes = s.homes.filter((h) => h.owner === current.id);
    for (const home of homes) home.owner = null;
    s.users = s.users.filter((u) => u !== current);
    logAccessEvent(s, login, `removed by ${options.by ?? 'operator'}`);
    return { user: current, homes };
  });
  await closeWithdrawnSessions(ctx.store.home);
  return result;
}

const TRANSITIONS: Record<'approve' | 'reject' | 'revoke', { from: UserStatus[]; to: UserStatus }> = {
  approve: { from: ['pending', 'rejected'], to: 'allowed' },
  reject: { from: ['pending'], to: 'rejected' },
  revoke: { from: ['allowed', 'pending'], to: 'revoked' },
};

async function transition(
  store: StateStore,
  login: string,
  action: keyof typeof TRANSITIONS,
  plan?: string,
  by = 'operator',
): Promise<User> {
  checkLogin(login);
  const { from, to } = TRANSITIONS[action];
  return store.transact((state) => {
    const user = findUser(state, login);
    if (!from.includes(user.status)) {
      throw new BerthError(
        'INVALID_TRANSITION',
        `User "${login}" is ${user.status}; only ${from.join(' or ')} users can be ${to === 'allowed' ? 'approved' : to}.`,
        user.status === 'revoked' || user.status === 'rejected'
          ? `To let them back in: berth user allow ${login}`
          : `See the user with: berth user show ${login}`,
      );
    }
    if (plan !== undefined) user.plan = findPlan(state, plan).name;
    user.status = to;
    if (action !== 'approve') logAccessEvent(state, login, `${to} by ${by}`);
    return user;
  });
}

/** Approves a pending (or rejected) user and tells them (over Telegram, through the daemon). */
export async function approveUser(ctx: Berth, login: string, plan?: string): Promise<User> {
  const user = await transition(ctx.store, login, 'approve', plan);
  await ctx.notifier.send({
    kind: 'access-approved',
    to: user.login,
    text: `✅ Your access was approved (plan ${user.plan}). Send /help to see what you can do, or /create to get your VM.`,
  });
  return user;
}

export async function rejectUser(ctx: Berth, login: string, by = 'operator'): Promise<User> {
  const user = await transition(ctx.store, login, 'reject', undefined, by);
  await ctx.notifier.send({ kind: 'access-rejected', to: user.login, text: 'Sorry, your request for access was declined.' });
  return user;
}

/**
 * Revokes a user. Access ends at once: the SSH gateway closes their connections when it sees the
 * change, and their running VMs are stopped (unless `keepRunning`), each stop logged with who did it.
 */
export async function revokeUser(
  ctx: Berth,
  login: string,
  options: { keepRunning?: boolean; by?: string } = {},
): Promise<{ user: User; stopped: string[]; failed: BulkFailure[] }> {
  const by = options.by ?? 'operator';
  const user = await transition(ctx.store, login, 'revoke', undefined, by);
  // Their SSH sessions hear why before their VMs stop under them.
  await closeWithdrawnSessions(ctx.store.home);
  if (options.keepRunning) return { user, stopped: [], failed: [] };
  const running = (await ctx.store.read()).vms.filter((vm) => vm.user === login && vm.desired === 'running' && vm.phase === 'ready');
  const result = await stopVms(
    ctx,
    running.map((vm) => ({ ref: vmRef(vm), reason: 'revoked' as const })),
    { ...OPERATOR, label: by },
  );
  return { user, stopped: result.changed, failed: result.failed };
}
