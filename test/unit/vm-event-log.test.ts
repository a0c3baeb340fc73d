import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initHome } from '../../src/services/setup/init.js';
import { EVENT_LOG_SIZE, latestVmEvents, logVmEvent } from '../../src/services/vm/vm-event-log.js';
import { STATE_VERSION } from '../../src/state/schema.js';
import { StateStore } from '../../src/state/store.js';
import { tempHome } from '../helpers/cli.js';

let store: StateStore;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const t = await tempHome();
  cleanup = t.cleanup;
  store = new StateStore(t.home);
  await initHome(store);
});
afterEach(() => cleanup());

describe('the VM event log in the state', () => {
  it(`keeps the last ${EVENT_LOG_SIZE} events, and gives them newest first`, async () => {
    await store.transact((state) => {
      for (let i = 0; i < EVENT_LOG_SIZE + 50; i++) {
        logVmEvent(state, { user: 'alice', name: 'main' }, 'stop', `stop ${i}`, new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
      }
    });
    const events = await latestVmEvents({ store } as never);
    expect(events).toHaveLength(EVENT_LOG_SIZE);
    expect(events[0]).toMatchObject({ vm: 'alice/main', user: 'alice', kind: 'stop', reason: `stop ${EVENT_LOG_SIZE + 49}` });
    expect(events.at(-1)?.reason).toBe('stop 50');
  });

  it('a version 3 state file upgrades to an empty log, keeping everything else', async () => {
    const current = JSON.parse(await readFile(store.path, 'utf8'));
    const { events: _dropped, ...v3 } = { ...current, version: 3 };
    await writeFile(store.path, JSON.stringify(v3));
    const state = await store.read();
    expect(state.version).toBe(STATE_VERSION);
    expect(state.events).toEqual([]);
    expect(state.plans).toEqual(current.plans);
    expect(state.instanceId).toBe(current.instanceId);
  });

  it('a state whose log holds an unknown kind is refused as damaged, not silently changed', async () => {
    const current = JSON.parse(await readFile(store.path, 'utf8'));
    current.events = [{ at: 'x', vm: 'a/b', user: 'a', kind: 'exploded', reason: '' }];
    const text = JSON.stringify(current);
    await writeFile(store.path, text);
    await expect(store.read()).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
    expect(await readFile(store.path, 'utf8')).toBe(text);
  });
});
