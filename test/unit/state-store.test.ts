import { spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BerthError } from '../../src/errors.js';
import { addPlan } from '../../src/services/people/plans.js';
import { initHome } from '../../src/services/setup/init.js';
import { STATE_VERSION, StateSchema } from '../../src/state/schema.js';
import { StateStore } from '../../src/state/store.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { ROOT, tempHome } from '../helpers/cli.js';

const WORKER = join(ROOT, 'test', 'helpers', 'state-worker.mjs');
let home: string;
let cleanup: () => Promise<void>;
let store: StateStore;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  store = new StateStore(home);
  await initHome(store);
});
afterEach(() => cleanup());

async function rejection(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('expected a rejection');
}

describe('the state file', () => {
  it('is private to the operator: home 0700, file 0600', async () => {
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it('keeps the previous good version as state.json.bak', async () => {
    const before = await readFile(store.path, 'utf8');
    await addPlan(store, 'gold', { cpu: 3 });
    expect(await readFile(`${store.path}.bak`, 'utf8')).toBe(before);
    expect((await store.read()).plans.map((p) => p.name)).toContain('gold');
  });

  it('writes nothing when a change throws', async () => {
    const before = await readFile(store.path, 'utf8');
    await expect(
      store.transact((state) => {
        state.plans = [];
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await readFile(store.path, 'utf8')).toBe(before);
    expect((await readdir(home)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a change that would break its invariants', async () => {
    const before = await readFile(store.path, 'utf8');
    await expect(
      store.transact((state) => {
        state.plans.push({ ...state.plans[0]! });
      }),
    ).rejects.toThrow(/appears twice/);
    expect(await readFile(store.path, 'utf8')).toBe(before);
  });

  it('names the file, the problem and the way back when it is damaged, and never overwrites it', async () => {
    await addPlan(store, 'gold', {});
    await writeFile(store.path, '{"version": 1, "plans": [');
    const err = await rejection(store.read());
    expect(err.code).toBe('STATE_CORRUPT');
    expect(err.message).toContain(store.path);
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.hint).toContain(`cp ${store.path}.bak ${store.path}`);
    await expect(addPlan(store, 'silver', {})).rejects.toThrow(/damaged/);
    expect(await readFile(store.path, 'utf8')).toBe('{"version": 1, "plans": [');
  });

  it('reports a file that parses but does not validate', async () => {
    const state = JSON.parse(await readFile(store.path, 'utf8'));
    state.plans[0].pids = -4;
    await writeFile(store.path, JSON.stringify(state));
    const err = await rejection(store.read());
    expect(err.code).toBe('STATE_CORRUPT');
    expect(err.message).toContain('plans.0.pids');
  });

  it('refuses a file from a newer berth without touching it', async () => {
    const text = JSON.stringify({ version: 99, plans: [], users: [], vms: [], config: {} });
    await writeFile(store.path, text);
    expect((await rejection(store.transact(() => undefined))).code).toBe('STATE_TOO_NEW');
    expect(await readFile(store.path, 'utf8')).toBe(text);
  });

  it('upgrades a version 1 file to the current version: nothing is lost, new fields get their defaults', async () => {
    const v1 = {
      version: 1,
      plans: [{ name: 'basic', cpu: 1, ramBytes: 1024 ** 3, gpu: 0, pids: 512, maxVms: 1, description: '' }],
      users: [{ login: 'alice', role: 'user', plan: 'basic', status: 'allowed', createdAt: '2026-01-01T00:00:00.000Z', keys: [] }],
      config: { ram: 2 * 1024 ** 3, maintenance: true },
    };
    await writeFile(store.path, JSON.stringify(v1));
    const state = await store.read();
    expect(state.version).toBe(STATE_VERSION);
    expect(state.instanceId).toMatch(/^[0-9a-f]{12}$/);
    expect(state.plans[0]).toMatchObject({ sudo: false, maxLifetimeSeconds: 0 });
    expect(state.vms).toEqual([]);
    expect(state.schedules).toEqual([]);
    expect(state.events).toEqual([]);
    // v2 kept maintenance as a config switch; v3 gives it a record of its own.
    expect(state.maintenance).toMatchObject({ on: true, source: 'operator' });
    expect(state.config).toEqual({ ram: 2 * 1024 ** 3 });
    expect(state.users[0]?.login).toBe('alice');
    await addPlan(store, 'gold', {});
    expect(JSON.parse(await readFile(store.path, 'utf8')).version).toBe(STATE_VERSION);
  });

  it('upgrades a version 4 file: users and VMs get ids, the volume of each VM becomes a home its user owns', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const user = (login: string) => ({ login, role: 'user', plan: 'basic', status: 'allowed', createdAt: at, keys: [] });
    const v4 = {
      version: 4,
      instanceId: '0123456789ab',
      plans: [{ name: 'basic', gpu: 0, pids: 512, maxVms: 1, sudo: false, maxLifetimeSeconds: 0, description: '' }],
      users: [user('alice'), user('bob')],
      vms: [
        {
          user: 'alice',
          name: 'main',
          plan: 'basic',
          image: 'berth-vm:latest',
          phase: 'ready',
          containerId: 'c0ffee',
          desired: 'running',
          resources: { cpu: 1, memoryBytes: 1024 ** 3, pids: 512, gpu: 0, sudo: false },
          createdAt: at,
        },
      ],
      config: {},
      maintenance: { on: false, reason: '', since: null, until: null, source: null, window: null, stoppedVms: [] },
      schedules: [],
      events: [],
    };
    await writeFile(store.path, JSON.stringify(v4));
    const state = await store.read();
    const [alice, bob] = state.users;
    expect(alice?.id).toMatch(/^[0-9a-f]{12}$/);
    expect(bob?.id).not.toBe(alice?.id);
    const vm = state.vms[0];
    expect(vm?.id).toMatch(/^[0-9a-f]{12}$/);
    expect(state.homes).toEqual([
      { id: vm?.home, owner: alice?.id, login: 'alice', vm: 'main', volume: 'berth-alice-main-home', diskBytes: null, createdAt: at },
    ]);
    // Made before quotas: no quota until rebuilt.
    expect(vm?.resources.diskBytes).toBeUndefined();
  });

  it('says how to start when there is no state yet', async () => {
    const fresh = new StateStore(join(home, 'nowhere'));
    const err = await rejection(fresh.read());
    expect(err.code).toBe('NOT_INITIALISED');
    expect(err.hint).toContain('berth init');
  });

  it('applies all 1000 mutations of 4 processes racing each other', async () => {
    await Promise.all(['pa', 'pb', 'pc', 'pd'].map((prefix) => execa('node', [WORKER, home, 'allow', prefix, '250'])));
    const state = await store.read();
    expect(state.users).toHaveLength(1000);
    for (const prefix of ['pa', 'pb', 'pc', 'pd']) {
      expect(state.users.filter((u) => u.login.startsWith(`${prefix}-`))).toHaveLength(250);
    }
  });

  it('survives a writer killed with SIGKILL mid-way: the file parses and holds the last commit', async () => {
    for (let round = 0; round < 3; round++) {
      const worker = spawn('node', [WORKER, home, 'churn'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      worker.stdout.on('data', (chunk) => {
        output += chunk;
      });
      await new Promise((resolve) => worker.stdout.once('data', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
      worker.kill('SIGKILL');
      await new Promise((resolve) => worker.once('exit', resolve));
      const committed = Math.max(...[...output.matchAll(/committed (\d+)/g)].map((m) => Number(m[1])));
      const state = StateSchema.parse(JSON.parse(await readFile(store.path, 'utf8')));
      // The kill can land between the rename and the line saying so.
      expect([committed, committed + 1]).toContain(state.config['max-vms']);
      expect(state.plans[0]?.description.startsWith(`${state.config['max-vms']}:`)).toBe(true);
    }
    // The dead writer's lock goes stale and the next change goes through.
    await addPlan(store, 'after-kill', {});
    expect((await store.read()).plans.map((p) => p.name)).toContain('after-kill');
  });

  it("reuses a validated read only while the text is the same: another process's change is seen at once", async () => {
    // A reader that keeps its store, as the daemon does, and a writer in another process.
    const reader = new StateStore(home);
    const first = await reader.snapshot();
    expect(Object.isFrozen(first) && Object.isFrozen(first.plans)).toBe(true);
    expect(() => {
      (first.plans as unknown[]).push({});
    }).toThrow(TypeError);
    expect(await reader.snapshot()).toBe(first); // unchanged file: the same validated object
    // The config it comes to is worked out once per snapshot; a copy's is worked out each time.
    expect(effectiveConfig(first.config)).toBe(effectiveConfig(first.config));
    expect(Object.isFrozen(effectiveConfig(first.config))).toBe(true);
    const copy = await reader.read();
    copy.config['max-vms'] = 7;
    expect(effectiveConfig(copy.config)['max-vms']).toBe(7);
    expect(effectiveConfig(copy.config)).not.toBe(effectiveConfig(copy.config));
    for (let n = 1; n <= 5; n++) {
      await execa('node', [WORKER, home, 'allow', `p${n}`, '1']);
      const seen = await reader.snapshot();
      expect(seen).not.toBe(first);
      expect(effectiveConfig(seen.config)).not.toBe(effectiveConfig(first.config));
      expect(seen.users.map((u) => u.login)).toContain(`p${n}-0`);
      expect((await reader.read()).users.map((u) => u.login)).toContain(`p${n}-0`);
    }
    // read() gives a copy of one's own: changing it changes neither the snapshot nor the next read.
    const mine = await reader.read();
    mine.users = [];
    expect((await reader.read()).users.length).toBe(5);
    expect((await reader.snapshot()).users.length).toBe(5);
    // A damaged file is refused by both, however recently a good one was read.
    await writeFile(store.path, '{"version": 5, "users": "no"}');
    expect((await rejection(reader.snapshot())).code).toBe('STATE_CORRUPT');
    expect((await rejection(reader.read())).code).toBe('STATE_CORRUPT');
  });
});
