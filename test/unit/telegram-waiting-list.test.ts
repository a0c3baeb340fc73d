import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pendingCount, requestAccess } from '../../src/services/people/telegram-users.js';
import { setConfig } from '../../src/services/setup/config.js';
import { initHome } from '../../src/services/setup/init.js';
import { StateStore } from '../../src/state/store.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { tempHome } from '../helpers/cli.js';

let cleanup: () => Promise<void>;
let store: StateStore;

beforeEach(async () => {
  const made = await tempHome();
  cleanup = made.cleanup;
  store = new StateStore(made.home);
  await initHome(store);
});
afterEach(() => cleanup());

describe('the waiting list of access requests', () => {
  it('holds at most telegram.max-pending users (50 by default), however many ask at once', async () => {
    expect(CONFIG_KEYS['telegram.max-pending'].default).toBe(50);
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => requestAccess(store, 500_000 + i, `s${i}`)));
    expect(outcomes.filter((o) => o.outcome === 'created')).toHaveLength(50);
    expect(outcomes.filter((o) => o.outcome === 'full')).toHaveLength(10);
    expect(pendingCount(await store.read())).toBe(50);
  });

  it('past the cap a request changes nothing; a configured admin and the already pending still get their answers', async () => {
    await setConfig(store, 'telegram.max-pending', '2');
    await setConfig(store, 'telegram.admins', '42');
    expect((await requestAccess(store, 1)).outcome).toBe('created');
    expect((await requestAccess(store, 2)).outcome).toBe('created');
    const before = await readFile(store.path, 'utf8');
    expect(await requestAccess(store, 3, 'late')).toEqual({ outcome: 'full', pending: 2 });
    expect(await readFile(store.path, 'utf8')).toBe(before);
    expect((await requestAccess(store, 2)).outcome).toBe('pending');
    expect((await requestAccess(store, 42)).outcome).toBe('allowed');
    // 0 takes no new requests at all.
    await setConfig(store, 'telegram.max-pending', '0');
    await store.transact((s) => {
      s.users = s.users.filter((u) => u.status !== 'pending');
    });
    expect((await requestAccess(store, 3)).outcome).toBe('full');
  });

  it('refuses a bad value, saying what it takes', () => {
    expect(() => CONFIG_KEYS['telegram.max-pending'].parse('-1')).toThrow(/count of pending users/);
    expect(() => CONFIG_KEYS['telegram.max-pending'].parse('lots')).toThrow(/count of pending users/);
    expect(CONFIG_KEYS['telegram.max-pending'].parse('200')).toBe(200);
  });
});
