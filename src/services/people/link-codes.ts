import { randomInt } from 'node:crypto';
import { BerthError } from '../../errors.js';
import type { State, User } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { parseDiscordId, parseTelegramId } from '../../values/config-keys.js';
import { type ChatAccount, FRONT_END_NAMES, type FrontEnd, userOfAccount } from './chat-users.js';

/** No 0/O, 1/I/L or U: a code read aloud or typed from a phone comes out right. */
export const LINK_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ23456789';
export const LINK_CODE_LENGTH = 8;
const TEN_MINUTES = 10 * 60_000;
/** Wrong codes one account may send within LOCK_WINDOW_MS before it is refused for that long. */
export const LINK_MAX_WRONG = 5;
const LOCK_WINDOW_MS = TEN_MINUTES;

interface Issued {
  userId: string;
  from: FrontEnd;
  expiresAt: number;
}

interface Tries {
  /** When the wrong codes within the window were sent. */
  wrong: number[];
  /** Refused until then (set on the LINK_MAX_WRONG-th wrong code). */
  lockedUntil?: number;
}

/** A refusal that leaves the code usable (the user can put things right and try again). */
class KeepCode extends BerthError {}

/**
 * One-time codes that link a berth user's second chat identity: asked for on the bot they use
 * (`issue`), sent to the other bot from the account to link (`redeem`). In memory: the daemon runs
 * both bots in one process, and a code outliving a restart is no loss.
 */
export class LinkCodes {
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;
  /** Outstanding codes, oldest first. */
  private readonly codes = new Map<string, Issued>();
  private readonly tries = new Map<string, Tries>();

  constructor(options: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? TEN_MINUTES;
    this.max = options.max ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /**
   * A code for allowed user `userId` (berth user id) asked from front-end `from`; replaces an earlier
   * code of theirs. 8 characters from an unambiguous alphabet; valid 10 minutes; at most `max`
   * (1000) outstanding, oldest dropped.
   */
  issue(userId: string, from: FrontEnd): { code: string; expiresAt: Date } {
    this.prune();
    for (const [code, issued] of this.codes) if (issued.userId === userId) this.codes.delete(code);
    let code: string;
    do code = Array.from({ length: LINK_CODE_LENGTH }, () => LINK_CODE_ALPHABET[randomInt(LINK_CODE_ALPHABET.length)]).join('');
    while (this.codes.has(code));
    const expiresAt = this.now() + this.ttlMs;
    this.codes.set(code, { userId, from, expiresAt });
    while (this.codes.size > this.max) this.codes.delete(this.codes.keys().next().value as string);
    return { code, expiresAt: new Date(expiresAt) };
  }

  /** How many codes are outstanding (expired ones not counted). */
  get size(): number {
    this.prune();
    return this.codes.size;
  }

  /**
   * Links `account` (the other front-end than the code came from) to the code's user; one use.
   * Wrong codes count per account: 5 wrong tries in 10 minutes and further tries are refused
   * until the window passes. An account that is a pending user of its own (its /start) owning
   * nothing is merged: that user is removed. All in one state transaction; a refusal changes nothing.
   */
  async redeem(store: StateStore, code: string, account: ChatAccount): Promise<User> {
    const id = account.frontEnd === 'telegram' ? String(parseTelegramId(account.id)) : parseDiscordId(account.id);
    const key = `${account.frontEnd}:${id}`;
    this.checkLock(key);
    const wanted = code.toUpperCase().replace(/[\s-]/g, '');
    this.prune();
    const issued = this.codes.get(wanted);
    if (!issued) throw this.wrongCode(key);
    const to = FRONT_END_NAMES[account.frontEnd];
    if (issued.from === account.frontEnd) {
      throw new BerthError(
        'LINK_CODE_SAME_BOT',
        `That code was made on ${to}: it links a ${FRONT_END_NAMES[other(issued.from)]} account.`,
        `Send it to the ${FRONT_END_NAMES[other(issued.from)]} bot, from the account you want to link.`,
      );
    }
    // Taken now, so two tries at once cannot both use it; put back after a refusal the user can mend.
    this.codes.delete(wanted);
    try {
      const user = await store.transact((state) => link(state, issued.userId, { ...account, id }));
      this.tries.delete(key);
      return user;
    } catch (err) {
      const replaced = [...this.codes.values()].some((c) => c.userId === issued.userId);
      if (err instanceof KeepCode && !replaced && issued.expiresAt > this.now()) this.codes.set(wanted, issued);
      throw err;
    }
  }

  private prune(): void {
    const now = this.now();
    for (const [code, issued] of this.codes) if (issued.expiresAt <= now) this.codes.delete(code);
    for (const [key, tries] of this.tries) {
      tries.wrong = tries.wrong.filter((at) => at > now - LOCK_WINDOW_MS);
      if (tries.lockedUntil !== undefined && tries.lockedUntil <= now) delete tries.lockedUntil;
      if (tries.wrong.length === 0 && tries.lockedUntil === undefined) this.tries.delete(key);
    }
  }

  private checkLock(key: string): void {
    const until = this.tries.get(key)?.lockedUntil;
    const now = this.now();
    if (until === undefined || until <= now) return;
    const minutes = Math.ceil((until - now) / 60_000);
    throw new BerthError(
      'LINK_LOCKED',
      `Too many wrong link codes came from this account: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      'Ask the bot you already use for a new code, and copy it exactly.',
    );
  }

  private wrongCode(key: string): BerthError {
    const now = this.now();
    const tries = this.tries.get(key) ?? { wrong: [] };
    tries.wrong = [...tries.wrong.filter((at) => at > now - LOCK_WINDOW_MS), now];
    if (tries.wrong.length >= LINK_MAX_WRONG) {
      tries.wrong = [];
      tries.lockedUntil = now + LOCK_WINDOW_MS;
    }
    this.tries.set(key, tries);
    const left = tries.lockedUntil === undefined ? LINK_MAX_WRONG - tries.wrong.length : 0;
    return new BerthError(
      'LINK_CODE_INVALID',
      'That link code is wrong, used or expired (a code lasts 10 minutes).',
      left > 0
        ? `Ask the bot you already use for a new code, and copy it exactly (${left} more tr${left === 1 ? 'y' : 'ies'} before a 10-minute wait).`
        : 'That was one wrong code too many: wait 10 minutes, then ask the bot you already use for a new code.',
    );
  }
}

const other = (frontEnd: FrontEnd): FrontEnd => (frontEnd === 'telegram' ? 'discord' : 'telegram');

/** Whether a user is no more than a chat account's own access request: pending, owning nothing. */
function mereRequest(state: State, user: User, frontEnd: FrontEnd): boolean {
  return (
    user.status === 'pending' &&
    (frontEnd === 'telegram' ? user.discordId === undefined : user.telegramId === undefined) &&
    user.keys.length === 0 &&
    (user.secrets?.length ?? 0) === 0 &&
    !state.vms.some((vm) => vm.user === user.login) &&
    !state.homes.some((h) => h.owner === user.id)
  );
}

/** Inside the transaction: gives `account` to the user of id `userId`, or refuses changing nothing. */
function link(state: State, userId: string, account: ChatAccount): User {
  const name = FRONT_END_NAMES[account.frontEnd];
  const user = state.users.find((u) => u.id === userId);
  if (user?.status !== 'allowed') {
    throw new BerthError(
      'LINK_NOT_ALLOWED',
      `The berth user this code was made for is ${user ? `${user.status}` : 'gone'}: nothing was linked.`,
      'Ask an admin to let the user in again, then ask for a new code.',
    );
  }
  const holder = userOfAccount(state, account);
  if (holder === user) return user;
  const current = account.frontEnd === 'telegram' ? user.telegramId : user.discordId;
  if (current !== undefined) {
    throw new KeepCode(
      'LINK_ALREADY_LINKED',
      `Berth user ${user.login} has another ${name} account already (${current}).`,
      `An admin can clear it first: berth user set ${user.login} ${account.frontEnd === 'telegram' ? '--no-telegram-id' : '--discord-id none'}`,
    );
  }
  if (holder) {
    if (!mereRequest(state, holder, account.frontEnd)) {
      throw new KeepCode(
        'LINK_ACCOUNT_TAKEN',
        `That ${name} account is berth user ${holder.login} already (${holder.status}): it cannot become ${user.login} too.`,
        `An admin can free it first: berth user remove ${holder.login}, or berth user set ${holder.login} ${account.frontEnd === 'telegram' ? '--no-telegram-id' : '--discord-id none'}`,
      );
    }
    state.users = state.users.filter((u) => u !== holder);
  }
  if (account.frontEnd === 'telegram') {
    user.telegramId = Number(account.id);
    delete user.telegramBlocked;
  } else {
    user.discordId = account.id;
    delete user.discordBlocked;
  }
  return user;
}
