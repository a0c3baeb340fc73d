import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { type ChatAccount, requestAccountAccess } from '../../src/services/people/chat-users.js';
import { LINK_CODE_ALPHABET, LinkCodes } from '../../src/services/people/link-codes.js';
import { allowUser } from '../../src/services/people/users.js';
import { initHome } from '../../src/services/setup/init.js';
import type { User } from '../../src/state/schema.js';
import { StateStore } from '../../src/state/store.js';
import { tempHome } from '../helpers/cli.js';

const ANN_DISCORD = '80351110224678912';
const OTHER_DISCORD = '123456789012345678';
const MINUTE = 60_000;
const discord = (id: string, username?: string): ChatAccount => ({ frontEnd: 'discord', id, username });
const telegram = (id: number): ChatAccount => ({ frontEnd: 'telegram', id: String(id) });

let cleanup: () => Promise<void>;
let store: StateStore;
let now: number;
let codes: LinkCodes;
let ann: User;

beforeEach(async () => {
  const made = await tempHome();
  cleanup = made.cleanup;
  store = new StateStore(made.home);
  await initHome(store);
  now = Date.parse('2026-12-07T12:00:00Z');
  codes = new LinkCodes({ now: () => now });
  ann = (await allowUser(store, 'ann', { telegramId: 10 })).user;
});
afterEach(() => cleanup());

async function refusal(work: Promise<unknown>): Promise<BerthError> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return err as BerthError;
}

const userOf = async (login: string) => (await store.read()).users.find((u) => u.login === login);

describe('linking a second chat identity with a one-time code', () => {
  it('a code asked on Telegram links the Discord account it is sent from, typed in any case, once', async () => {
    const { code, expiresAt } = codes.issue(ann.id, 'telegram');
    expect(code).toMatch(new RegExp(`^[${LINK_CODE_ALPHABET}]{8}$`));
    expect(expiresAt.getTime()).toBe(now + 10 * MINUTE);
    const linked = await codes.redeem(store, ` ${code.toLowerCase()} `, discord(ANN_DISCORD));
    expect(linked).toMatchObject({ login: 'ann', telegramId: 10, discordId: ANN_DISCORD });
    expect(await userOf('ann')).toMatchObject({ telegramId: 10, discordId: ANN_DISCORD });
    expect((await refusal(codes.redeem(store, code, discord(OTHER_DISCORD)))).code).toBe('LINK_CODE_INVALID');
    expect(await userOf('ann')).toMatchObject({ discordId: ANN_DISCORD });
  });

  it('a code asked on Discord links a Telegram account', async () => {
    const bob = (await allowUser(store, 'bob', { discordId: OTHER_DISCORD })).user;
    const { code } = codes.issue(bob.id, 'discord');
    expect(await codes.redeem(store, code, telegram(77))).toMatchObject({ login: 'bob', telegramId: 77, discordId: OTHER_DISCORD });
  });

  it('a code lasts 10 minutes, and a newer one replaces it', async () => {
    const first = codes.issue(ann.id, 'telegram').code;
    const second = codes.issue(ann.id, 'telegram').code;
    expect(codes.size).toBe(1);
    expect((await refusal(codes.redeem(store, first, discord(ANN_DISCORD)))).code).toBe('LINK_CODE_INVALID');
    now += 10 * MINUTE;
    const expired = await refusal(codes.redeem(store, second, discord(ANN_DISCORD)));
    expect(expired.code).toBe('LINK_CODE_INVALID');
    expect(expired.message).toMatch(/wrong, used or expired/);
    expect((await userOf('ann'))?.discordId).toBeUndefined();
  });

  it('refuses a code sent to the bot that made it, leaving it usable', async () => {
    const { code } = codes.issue(ann.id, 'telegram');
    const same = await refusal(codes.redeem(store, code, telegram(11)));
    expect(same.code).toBe('LINK_CODE_SAME_BOT');
    expect(same.message).toContain('That code was made on Telegram: it links a Discord account.');
    expect(same.hint).toContain('Send it to the Discord bot');
    expect((await codes.redeem(store, code, discord(ANN_DISCORD))).discordId).toBe(ANN_DISCORD);
  });

  it('after 5 wrong codes in 10 minutes an account is refused, the right code too, until the window passes', async () => {
    const { code } = codes.issue(ann.id, 'telegram');
    const attacker = discord(OTHER_DISCORD);
    for (let i = 0; i < 4; i++) {
      const wrong = await refusal(codes.redeem(store, 'AAAAAAAA', attacker));
      expect(wrong.code).toBe('LINK_CODE_INVALID');
      expect(wrong.hint).toContain(`${4 - i} more tr`);
      now += MINUTE;
    }
    expect((await refusal(codes.redeem(store, 'BBBBBBBB', attacker))).hint).toMatch(/one wrong code too many: wait 10 minutes/);
    const locked = await refusal(codes.redeem(store, code, attacker));
    expect(locked.code).toBe('LINK_LOCKED');
    expect(locked.message).toMatch(/try again in 10 minutes/);
    now += 9 * MINUTE;
    expect((await refusal(codes.redeem(store, code, attacker))).message).toMatch(/try again in 1 minute\b/);
    // Another account is not held back, and the code was not spent by the refusals.
    const fresh = codes.issue(ann.id, 'telegram').code;
    now += MINUTE;
    expect((await codes.redeem(store, fresh, attacker)).discordId).toBe(OTHER_DISCORD);
    expect((await userOf('ann'))?.discordId).toBe(OTHER_DISCORD);
  });

  it('wrong codes spread over more than 10 minutes never lock an account', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await refusal(codes.redeem(store, 'CCCCCCCC', discord(OTHER_DISCORD)))).code).toBe('LINK_CODE_INVALID');
      now += 3 * MINUTE;
    }
    const { code } = codes.issue(ann.id, 'telegram');
    expect((await codes.redeem(store, code, discord(OTHER_DISCORD))).login).toBe('ann');
  });

  it("merges the account's own pending request that owns nothing: that user is removed", async () => {
    const request = await requestAccountAccess(store, discord(ANN_DISCORD, 'ann_on_discord'));
    expect(request).toMatchObject({ outcome: 'created', user: { login: 'annondiscord', status: 'pending' } });
    const { code } = codes.issue(ann.id, 'telegram');
    expect((await codes.redeem(store, code, discord(ANN_DISCORD))).discordId).toBe(ANN_DISCORD);
    const state = await store.read();
    expect(state.users.map((u) => u.login)).toEqual(['ann']);
  });

  it('refuses, changing nothing, an account that is an allowed user, or a pending one owning a home', async () => {
    await allowUser(store, 'dora', { discordId: ANN_DISCORD });
    const { code } = codes.issue(ann.id, 'telegram');
    const before = await readFile(store.path, 'utf8');
    const taken = await refusal(codes.redeem(store, code, discord(ANN_DISCORD)));
    expect(taken.code).toBe('LINK_ACCOUNT_TAKEN');
    expect(taken.message).toContain('That Discord account is berth user dora already');
    expect(taken.hint).toContain('berth user remove dora');
    expect(await readFile(store.path, 'utf8')).toBe(before);

    // A pending request that owns a (kept) home is no mere request either.
    const pending = await requestAccountAccess(store, discord(OTHER_DISCORD, 'eve'));
    if (pending.outcome !== 'created') throw new Error(`expected a new request, got ${pending.outcome}`);
    await store.transact((s) => {
      s.homes.push({
        id: 'abcdefabcdef',
        owner: pending.user.id,
        login: 'eve',
        vm: 'dev',
        volume: 'berth-test-eve-dev-home',
        diskBytes: null,
        createdAt: new Date(now).toISOString(),
      });
    });
    const withHome = await readFile(store.path, 'utf8');
    expect((await refusal(codes.redeem(store, code, discord(OTHER_DISCORD)))).code).toBe('LINK_ACCOUNT_TAKEN');
    expect(await readFile(store.path, 'utf8')).toBe(withHome);

    // The refusals did not spend the code: once an admin frees the account, it links.
    await store.transact((s) => {
      const dora = s.users.find((u) => u.login === 'dora');
      if (dora) delete dora.discordId;
    });
    expect((await codes.redeem(store, code, discord(ANN_DISCORD))).discordId).toBe(ANN_DISCORD);
  });

  it('refuses a user who has that kind of account already, and one no longer allowed', async () => {
    await store.transact((s) => {
      const u = s.users.find((x) => x.id === ann.id);
      if (u) u.discordId = OTHER_DISCORD;
    });
    const { code } = codes.issue(ann.id, 'telegram');
    const before = await readFile(store.path, 'utf8');
    const already = await refusal(codes.redeem(store, code, discord(ANN_DISCORD)));
    expect(already.code).toBe('LINK_ALREADY_LINKED');
    expect(already.hint).toContain('berth user set ann --discord-id none');
    expect(await readFile(store.path, 'utf8')).toBe(before);

    await store.transact((s) => {
      const u = s.users.find((x) => x.id === ann.id);
      if (u) {
        delete u.discordId;
        u.status = 'revoked';
      }
    });
    const revoked = await readFile(store.path, 'utf8');
    expect((await refusal(codes.redeem(store, code, discord(ANN_DISCORD)))).code).toBe('LINK_NOT_ALLOWED');
    expect(await readFile(store.path, 'utf8')).toBe(revoked);
  });

  it('keeps at most `max` codes, dropping the oldest', async () => {
    const few = new LinkCodes({ max: 2, now: () => now });
    const bob = (await allowUser(store, 'bob')).user;
    const carl = (await allowUser(store, 'carl')).user;
    const first = few.issue(ann.id, 'telegram').code;
    few.issue(bob.id, 'telegram');
    const third = few.issue(carl.id, 'telegram').code;
    expect(few.size).toBe(2);
    expect((await refusal(few.redeem(store, first, discord(ANN_DISCORD)))).code).toBe('LINK_CODE_INVALID');
    expect((await few.redeem(store, third, discord(ANN_DISCORD))).login).toBe('carl');
  });
});
