import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import {
  accountOf,
  adminAccounts,
  allowAccount,
  type ChatAccount,
  chatActor,
  findUserByRef,
  identifyAccount,
  pendingCount,
  requestAccountAccess,
  setAccountBlocked,
} from '../../src/services/people/chat-users.js';
import { adminIds, identify, telegramActor } from '../../src/services/people/telegram-users.js';
import { allowUser, setUser } from '../../src/services/people/users.js';
import { setConfig } from '../../src/services/setup/config.js';
import { initHome } from '../../src/services/setup/init.js';
import { actorReason } from '../../src/services/vm/vm-event-log.js';
import { StateStore } from '../../src/state/store.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { tempHome } from '../helpers/cli.js';

const ANN_DISCORD = '80351110224678912';
const BOB_DISCORD = '123456789012345678';
const ADMIN_DISCORD = '999999999999999999';
const ROLE = '555555555555555555';
const discord = (id: string, extra: Partial<ChatAccount> = {}): ChatAccount => ({ frontEnd: 'discord', id, ...extra });
const telegram = (id: number, extra: Partial<ChatAccount> = {}): ChatAccount => ({ frontEnd: 'telegram', id: String(id), ...extra });

let cleanup: () => Promise<void>;
let store: StateStore;

beforeEach(async () => {
  const made = await tempHome();
  cleanup = made.cleanup;
  store = new StateStore(made.home);
  await initHome(store);
});
afterEach(() => cleanup());

async function codeOf(work: Promise<unknown>): Promise<string> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return (err as BerthError).code;
}

describe('who is an admin in the chat bots', () => {
  beforeEach(async () => {
    await setConfig(store, 'telegram.admins', '99');
    await setConfig(store, 'discord.admins', ADMIN_DISCORD);
    await allowUser(store, 'ann', { telegramId: 10, discordId: ANN_DISCORD, admin: true });
    await allowUser(store, 'bob', { telegramId: 12, discordId: BOB_DISCORD });
  });

  it('ids in telegram.admins or discord.admins, and allowed admin users on either bot', async () => {
    const state = await store.read();
    expect(identifyAccount(state, telegram(99))).toMatchObject({ admin: true, user: undefined });
    expect(identifyAccount(state, discord(ADMIN_DISCORD))).toMatchObject({ admin: true, user: undefined });
    // A Telegram admin id is no admin as a Discord id, and the other way round.
    expect(identifyAccount(state, discord('990000000000000099')).admin).toBe(false);
    expect(identifyAccount(state, telegram(10))).toMatchObject({ admin: true, user: { login: 'ann' } });
    expect(identifyAccount(state, discord(ANN_DISCORD))).toMatchObject({ admin: true, user: { login: 'ann' } });
    expect(identifyAccount(state, discord(BOB_DISCORD))).toMatchObject({ admin: false, user: { login: 'bob' } });
    expect(identify(state, 12)).toEqual(identifyAccount(state, telegram(12)));
  });

  it('members of discord.admin-role, on Discord only, and only while it is set', async () => {
    const bob = discord(BOB_DISCORD, { roles: [ROLE] });
    expect(identifyAccount(await store.read(), bob).admin).toBe(false);
    await setConfig(store, 'discord.admin-role', ROLE);
    const state = await store.read();
    expect(identifyAccount(state, bob)).toMatchObject({ admin: true, user: { login: 'bob' } });
    expect(identifyAccount(state, discord(BOB_DISCORD, { roles: ['444444444444444444'] })).admin).toBe(false);
    expect(identifyAccount(state, discord(BOB_DISCORD)).admin).toBe(false);
    expect(identifyAccount(state, telegram(12, { roles: [ROLE] })).admin).toBe(false);
  });

  it('a revoked admin is not one on either bot', async () => {
    await setUser(store, 'ann', { role: 'admin' });
    await store.transact((s) => {
      const ann = s.users.find((u) => u.login === 'ann');
      if (ann) ann.status = 'revoked';
    });
    const state = await store.read();
    expect(identifyAccount(state, telegram(10)).admin).toBe(false);
    expect(identifyAccount(state, discord(ANN_DISCORD)).admin).toBe(false);
  });

  it('lists the admins each bot can write to: configured ids and allowed admin users', async () => {
    const state = await store.read();
    expect(adminAccounts(state, 'telegram')).toEqual(['10', '99']);
    expect(adminIds(state)).toEqual([10, 99]);
    expect(adminAccounts(state, 'discord')).toEqual([ANN_DISCORD, ADMIN_DISCORD]);
  });

  it("acts as the login on its own VMs; a Discord admin is told apart in the event log, Telegram's as before", async () => {
    const state = await store.read();
    const annOnTelegram = identifyAccount(state, telegram(10));
    expect(chatActor(annOnTelegram, 'telegram')).toEqual({ role: 'admin', login: 'ann', reach: 'own', bypassMaintenance: true });
    expect(chatActor(annOnTelegram, 'telegram')).toEqual(telegramActor(annOnTelegram));
    expect(actorReason(chatActor(annOnTelegram, 'telegram'))).toBe('admin ann');
    const annOnDiscord = chatActor(identifyAccount(state, discord(ANN_DISCORD)), 'discord');
    expect(annOnDiscord).toMatchObject({ role: 'admin', login: 'ann', reach: 'own', bypassMaintenance: true });
    expect(actorReason(annOnDiscord)).toBe('admin ann (discord)');
    const bobOnDiscord = chatActor(identifyAccount(state, discord(BOB_DISCORD)), 'discord');
    expect(bobOnDiscord).toEqual({ role: 'user', login: 'bob', reach: 'own' });
    expect(actorReason(bobOnDiscord)).toBe('user bob');
    expect(chatActor(identifyAccount(state, discord(ADMIN_DISCORD)), 'discord')).toEqual({ role: 'admin', reach: 'own' });
  });
});

describe('access requests from both bots', () => {
  it('share one waiting list: telegram.max-pending caps Telegram and Discord requests together', async () => {
    await setConfig(store, 'telegram.max-pending', '2');
    expect((await requestAccountAccess(store, telegram(1, { username: 'tina' }))).outcome).toBe('created');
    const dora = await requestAccountAccess(store, discord(ANN_DISCORD, { username: 'dora.dev' }));
    expect(dora).toMatchObject({ outcome: 'created', user: { login: 'doradev', discordId: ANN_DISCORD, status: 'pending' } });
    expect(dora.outcome === 'created' && dora.user.telegramId).toBe(undefined);
    const before = await readFile(store.path, 'utf8');
    expect(await requestAccountAccess(store, discord(BOB_DISCORD))).toEqual({ outcome: 'full', pending: 2 });
    expect(await requestAccountAccess(store, telegram(3))).toEqual({ outcome: 'full', pending: 2 });
    expect(await readFile(store.path, 'utf8')).toBe(before);
    expect((await requestAccountAccess(store, discord(ANN_DISCORD))).outcome).toBe('pending');
    expect(pendingCount(await store.read())).toBe(2);
  });

  it('racing requests from both bots never pass the cap', async () => {
    await setConfig(store, 'telegram.max-pending', '5');
    const accounts = Array.from({ length: 12 }, (_, i) =>
      i % 2 ? telegram(700_000 + i) : discord(String(100_000_000_000_000_000n + BigInt(i))),
    );
    const outcomes = await Promise.all(accounts.map((a) => requestAccountAccess(store, a)));
    expect(outcomes.filter((o) => o.outcome === 'created')).toHaveLength(5);
    expect(pendingCount(await store.read())).toBe(5);
  });

  it('lets configured admins in at once, past a full list; a member of the admin role as an allowed user', async () => {
    await setConfig(store, 'telegram.max-pending', '0');
    await setConfig(store, 'discord.admins', ADMIN_DISCORD);
    await setConfig(store, 'discord.admin-role', ROLE);
    expect(await requestAccountAccess(store, discord(ADMIN_DISCORD))).toMatchObject({
      outcome: 'allowed',
      user: { login: `d${ADMIN_DISCORD}`, role: 'admin', status: 'allowed' },
    });
    const member = await requestAccountAccess(store, discord(BOB_DISCORD, { username: 'Bob', roles: [ROLE] }));
    expect(member).toMatchObject({ outcome: 'allowed', user: { login: 'bob', role: 'user', status: 'allowed' } });
    expect((await requestAccountAccess(store, discord(ANN_DISCORD))).outcome).toBe('full');
  });

  it('derives u<Telegram id> / d<Discord id> without a usable name, and refuses a malformed id', async () => {
    const t = await requestAccountAccess(store, telegram(42, { username: 'x' }));
    expect(t.outcome === 'created' && t.user.login).toBe('u42');
    const d = await requestAccountAccess(store, discord('12345678901234567890', { username: '__' }));
    expect(d.outcome === 'created' && d.user.login).toBe('d12345678901234567890');
    expect(await codeOf(requestAccountAccess(store, discord('1234')))).toBe('INVALID_DISCORD_ID');
  });

  it('marks and clears a blocked bot per front-end', async () => {
    await allowUser(store, 'ann', { telegramId: 10, discordId: ANN_DISCORD });
    await setAccountBlocked(store, discord(ANN_DISCORD), true);
    let ann = (await store.read()).users.find((u) => u.login === 'ann');
    expect(ann).toMatchObject({ discordBlocked: true });
    expect(ann?.telegramBlocked).toBeUndefined();
    await setAccountBlocked(store, discord(ANN_DISCORD), false);
    ann = (await store.read()).users.find((u) => u.login === 'ann');
    expect(ann?.discordBlocked).toBeUndefined();
  });
});

describe('naming a user by login, Telegram id or Discord id', () => {
  it('tries 17 to 20 digits as a Discord id first, shorter numbers as Telegram ids', async () => {
    await allowUser(store, 'ann', { discordId: ANN_DISCORD });
    // The longest Telegram id berth keeps (16 digits) is one digit short of the shortest snowflake.
    await allowUser(store, 'tom', { telegramId: '1234567890123456' });
    await allowUser(store, 'tim', { telegramId: '123' });
    await allowUser(store, 'dan', { discordId: '12345678901234567' });
    const state = await store.read();
    expect(findUserByRef(state, 'Ann').login).toBe('ann');
    expect(findUserByRef(state, ` ${ANN_DISCORD} `).login).toBe('ann');
    expect(findUserByRef(state, '12345678901234567').login).toBe('dan');
    expect(findUserByRef(state, '1234567890123456').login).toBe('tom');
    expect(findUserByRef(state, '123').login).toBe('tim');
    expect(accountOf(findUserByRef(state, 'tim'), 'telegram')).toBe('123');
    expect(accountOf(findUserByRef(state, 'tim'), 'discord')).toBeUndefined();
    expect(() => findUserByRef(state, '77')).toThrow(/No user has the Telegram or Discord id 77/);
    expect(() => findUserByRef(state, 'nobody')).toThrow(/There is no user "nobody"/);
  });
});

describe('allowing a Discord account', () => {
  it('adds a user with that id, re-allows its holder, and refuses a login or id of another user', async () => {
    const made = await allowAccount(store, discord(ANN_DISCORD), { login: 'ann' });
    expect(made).toMatchObject({ created: true, user: { login: 'ann', discordId: ANN_DISCORD, status: 'allowed' } });
    expect((await allowAccount(store, discord(ANN_DISCORD))).created).toBe(false);
    expect(await codeOf(allowAccount(store, discord(ANN_DISCORD), { login: 'other' }))).toBe('DISCORD_ID_TAKEN');
    await allowUser(store, 'bob');
    expect(await codeOf(allowAccount(store, discord(BOB_DISCORD), { login: 'bob' }))).toBe('LOGIN_TAKEN');
    expect(await codeOf(allowUser(store, 'carl', { discordId: ANN_DISCORD }))).toBe('DISCORD_ID_TAKEN');
  });
});

describe('Discord ids in the state and the config', () => {
  it('user set takes a Discord id, none clears it, and a malformed or taken one is refused', async () => {
    await allowUser(store, 'ann');
    await allowUser(store, 'bob', { discordId: BOB_DISCORD });
    expect((await setUser(store, 'ann', { discordId: ANN_DISCORD })).discordId).toBe(ANN_DISCORD);
    expect(await codeOf(setUser(store, 'ann', { discordId: '12ab' }))).toBe('INVALID_DISCORD_ID');
    expect(await codeOf(setUser(store, 'ann', { discordId: BOB_DISCORD }))).toBe('DISCORD_ID_TAKEN');
    expect((await setUser(store, 'ann', { discordId: null })).discordId).toBeUndefined();
  });

  it('the state refuses one Discord id on two users', async () => {
    await allowUser(store, 'ann', { discordId: ANN_DISCORD });
    await allowUser(store, 'bob');
    await expect(
      store.transact((s) => {
        const bob = s.users.find((u) => u.login === 'bob');
        if (bob) bob.discordId = ANN_DISCORD;
      }),
    ).rejects.toThrow(`Discord id ${ANN_DISCORD} belongs to two users`);
  });

  it('discord.* keys parse snowflakes and refuse anything else', () => {
    expect(CONFIG_KEYS['discord.admins'].parse(`${ANN_DISCORD}, ${BOB_DISCORD} ${ANN_DISCORD}`)).toEqual([ANN_DISCORD, BOB_DISCORD]);
    expect(() => CONFIG_KEYS['discord.admins'].parse('12345')).toThrow(/not a Discord user id/);
    expect(CONFIG_KEYS['discord.admin-role'].parse(' ')).toBe('');
    expect(() => CONFIG_KEYS['discord.admin-role'].parse('admins')).toThrow(/not a Discord role id/);
    expect(() => CONFIG_KEYS['discord.guilds'].parse('x')).toThrow(/not a Discord server \(guild\) id/);
    expect(CONFIG_KEYS['discord.api-root'].parse('http://127.0.0.1:9/api/')).toBe('http://127.0.0.1:9/api');
    expect(() => CONFIG_KEYS['discord.api-root'].parse('ftp://x')).toThrow(/not a valid Discord API root/);
    expect(CONFIG_KEYS['discord.rate-limit'].default).toBe(CONFIG_KEYS['telegram.rate-limit'].default);
    expect(CONFIG_KEYS['discord.exec-timeout'].parse('2m')).toBe(120);
  });
});
