import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../../src/errors.js';
import {
  createApiToken,
  listApiTokens,
  MAX_API_TOKENS,
  revokeApiToken,
  touchApiToken,
  verifyApiToken,
} from '../../src/services/apps/api-tokens.js';
import { allowUser } from '../../src/services/people/users.js';
import { initHome } from '../../src/services/setup/init.js';
import { StateStore } from '../../src/state/store.js';
import { stateText, tempHome } from '../helpers/cli.js';

const TOKEN_FORMAT = /^berth_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

let cleanup: () => Promise<void>;
let home: string;
let store: StateStore;

beforeEach(async () => {
  const made = await tempHome();
  ({ home, cleanup } = made);
  store = new StateStore(home);
  await initHome(store);
  await allowUser(store, 'ann');
  await allowUser(store, 'bob');
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

const verify = async (token: string) => verifyApiToken(await store.read(), token);

/** The token with one character of its secret changed (to another base64url character). */
function altered(token: string, at: number): string {
  const c = token[at] === 'A' ? 'B' : 'A';
  return `${token.slice(0, at)}${c}${token.slice(at + 1)}`;
}

describe('making an API token', () => {
  it("is verified as its user's, and the state file holds only its SHA-256", async () => {
    const made = await createApiToken(store, 'ann', 'github-ci');
    expect(made.token).toMatch(TOKEN_FORMAT);
    expect(made.token.slice(6, 14)).toBe(made.id);
    expect(made).toMatchObject({ name: 'github-ci' });
    expect(Date.parse(made.createdAt)).not.toBeNaN();

    const verified = await verify(made.token);
    expect(verified?.user.login).toBe('ann');
    expect(verified?.tokenId).toBe(made.id);

    const text = await stateText(home);
    expect(text).not.toContain(made.token);
    expect(text).not.toContain(made.token.slice(15));
    expect(text).toContain(createHash('sha256').update(made.token).digest('hex'));
  });

  it('is named token-ID when no name is given, and each token of a user has its own id', async () => {
    const first = await createApiToken(store, 'ann');
    expect(first.name).toBe(`token-${first.id}`);
    const more = [first, ...(await Promise.all([1, 2, 3, 4].map(() => createApiToken(store, 'ann'))))];
    expect(new Set(more.map((t) => t.id)).size).toBe(5);
    expect(new Set(more.map((t) => t.token)).size).toBe(5);
    for (const t of more) expect((await verify(t.token))?.tokenId).toBe(t.id);
  });

  it('refuses names that are empty, too long or hold control characters, and keeps nothing', async () => {
    for (const name of ['', '   ', 'x'.repeat(41), 'ci\nbuild', 'ci\u001b[2J', 'evil\u202eicc', 'tab\there']) {
      const err = await refusal(createApiToken(store, 'ann', name));
      expect(err.code).toBe('TOKEN_NAME_INVALID');
      expect(err.usage).toBe(true);
      expect([...err.message].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]);
    }
    expect(await listApiTokens(store, 'ann')).toEqual([]);
    expect((await createApiToken(store, 'ann', 'x'.repeat(40))).name).toHaveLength(40);
  });

  it(`stops at ${MAX_API_TOKENS} tokens a user, until one is revoked`, async () => {
    const made = [];
    for (let i = 0; i < MAX_API_TOKENS; i++) made.push(await createApiToken(store, 'ann', `ci-${i}`));
    const err = await refusal(createApiToken(store, 'ann', 'one-more'));
    expect(err.code).toBe('TOKEN_LIMIT');
    expect(err.hint).toContain('berth user token revoke ann');
    expect(await listApiTokens(store, 'ann')).toHaveLength(MAX_API_TOKENS);
    // Another user's count is their own.
    await createApiToken(store, 'bob');
    await revokeApiToken(store, 'ann', made[3]!.id);
    await createApiToken(store, 'ann', 'one-more');
    expect(await listApiTokens(store, 'ann')).toHaveLength(MAX_API_TOKENS);
  });

  it('is refused for users who are not allowed, and for unknown users', async () => {
    await store.transact((state) => {
      state.users.find((u) => u.login === 'bob')!.status = 'pending';
    });
    expect((await refusal(createApiToken(store, 'bob'))).code).toBe('USER_NOT_ALLOWED');
    expect((await refusal(createApiToken(store, 'carol'))).code).toBe('USER_NOT_FOUND');
    expect((await refusal(createApiToken(store, 'Not A Login'))).code).toBe('INVALID_LOGIN');
  });
});

describe('listing and revoking tokens', () => {
  it('lists ids, names and dates, never a hash or the token', async () => {
    const made = await createApiToken(store, 'ann', 'deploy');
    const listed = await listApiTokens(store, 'ann');
    expect(listed).toEqual([{ id: made.id, name: 'deploy', createdAt: made.createdAt }]);
    expect(JSON.stringify(listed)).not.toMatch(/[0-9a-f]{64}|berth_/);
    expect(await listApiTokens(store, 'bob')).toEqual([]);
  });

  it('revokes by id: the token no longer verifies; an unknown id is TOKEN_NOT_FOUND', async () => {
    const kept = await createApiToken(store, 'ann', 'kept');
    const gone = await createApiToken(store, 'ann', 'gone');
    expect(await revokeApiToken(store, 'ann', gone.id)).toEqual({ id: gone.id, name: 'gone' });
    expect(await verify(gone.token)).toBeNull();
    expect((await verify(kept.token))?.tokenId).toBe(kept.id);
    expect((await refusal(revokeApiToken(store, 'ann', gone.id))).code).toBe('TOKEN_NOT_FOUND');
    // Another user's token id is not found under this user.
    const bobs = await createApiToken(store, 'bob');
    expect((await refusal(revokeApiToken(store, 'ann', bobs.id))).code).toBe('TOKEN_NOT_FOUND');
    expect((await refusal(revokeApiToken(store, 'ann', '\u001b[2Jzz'))).message).not.toContain('\u001b');
    await revokeApiToken(store, 'ann', kept.id);
    expect((await store.read()).users.find((u) => u.login === 'ann')?.apiTokens).toBeUndefined();
  });
});

describe('verifying a token', () => {
  it('refuses a wrong secret, a wrong id, a truncated or extended token, and garbage, without throwing', async () => {
    const made = await createApiToken(store, 'ann');
    const other = await createApiToken(store, 'bob');
    const state = await store.read();
    const otherId = other.id === made.id ? 'ffffffff' : other.id;
    const refused = [
      altered(made.token, made.token.length - 5),
      altered(made.token, 20),
      made.token.replace(made.id, otherId),
      made.token.replace(made.id, made.id === '00000000' ? '00000001' : '00000000'),
      made.token.slice(0, -1),
      `${made.token}A`,
      made.token.toUpperCase(),
      ` ${made.token}`,
      made.token.replace('berth_', 'berth-'),
      `Bearer ${made.token}`,
      '',
      'berth_',
      `berth_${made.id}_`,
      'x'.repeat(10 * 1024),
      `${made.token}${'A'.repeat(10 * 1024)}`,
      'berth_\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000_'.padEnd(made.token.length, '\u0000'),
      'berth_zzzzzzzz_'.padEnd(made.token.length, 'A'),
    ];
    for (const token of refused) expect(verifyApiToken(state, token), JSON.stringify(token.slice(0, 80))).toBeNull();
    for (const garbage of [undefined, null, 42, {}, ['x']]) expect(verifyApiToken(state, garbage as unknown as string)).toBeNull();
    expect(verifyApiToken(state, made.token)?.user.login).toBe('ann');
    expect(verifyApiToken(state, other.token)?.user.login).toBe('bob');
  });

  it('refuses the token of a revoked or pending user, and works again once they are allowed', async () => {
    const made = await createApiToken(store, 'ann');
    for (const status of ['revoked', 'pending', 'rejected'] as const) {
      await store.transact((state) => {
        state.users.find((u) => u.login === 'ann')!.status = status;
      });
      expect(await verify(made.token), status).toBeNull();
    }
    await allowUser(store, 'ann');
    expect((await verify(made.token))?.user.login).toBe('ann');
  });

  it('does not write the state', async () => {
    const made = await createApiToken(store, 'ann');
    const state = await store.read();
    const before = JSON.stringify(state);
    verifyApiToken(state, made.token);
    verifyApiToken(state, altered(made.token, 30));
    expect(JSON.stringify(state)).toBe(before);
  });
});

describe('recording when a token was used', () => {
  const lastUsed = async (id: string) => (await listApiTokens(store, 'ann')).find((t) => t.id === id)?.lastUsedAt;

  it('writes at most once a minute per token', async () => {
    const a = await createApiToken(store, 'ann', 'a');
    const b = await createApiToken(store, 'ann', 'b');
    const t0 = new Date('2026-12-07T12:00:00.000Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);

    await touchApiToken(store, 'ann', a.id, t0);
    expect(await lastUsed(a.id)).toBe(t0.toISOString());
    expect(await lastUsed(b.id)).toBeUndefined();

    // Within the minute: no transaction (no lock taken, nothing written).
    const text = await stateText(home);
    const transact = vi.spyOn(store, 'transact');
    await touchApiToken(store, 'ann', a.id, at(1_000));
    await touchApiToken(store, 'ann', a.id, at(59_999));
    expect(transact).not.toHaveBeenCalled();
    expect(await stateText(home)).toBe(text);
    expect(await lastUsed(a.id)).toBe(t0.toISOString());

    // Another token has its own minute.
    await touchApiToken(store, 'ann', b.id, at(30_000));
    expect(await lastUsed(b.id)).toBe(at(30_000).toISOString());

    // A minute on, the use is recorded again.
    await touchApiToken(store, 'ann', a.id, at(60_000));
    expect(await lastUsed(a.id)).toBe(at(60_000).toISOString());
    expect(transact).toHaveBeenCalledTimes(2);
    expect((await listApiTokens(store, 'ann')).find((t) => t.id === a.id)).toEqual({
      id: a.id,
      name: 'a',
      createdAt: a.createdAt,
      lastUsedAt: at(60_000).toISOString(),
    });
  });

  it('leaves a revoked token, or a removed user, alone', async () => {
    const made = await createApiToken(store, 'ann');
    await revokeApiToken(store, 'ann', made.id);
    const text = await stateText(home);
    const transact = vi.spyOn(store, 'transact');
    await touchApiToken(store, 'ann', made.id);
    await touchApiToken(store, 'nobody', made.id);
    expect(transact).not.toHaveBeenCalled();
    expect(await stateText(home)).toBe(text);
  });
});
