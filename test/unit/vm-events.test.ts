import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initHome } from '../../src/services/init.js';
import type { Notice } from '../../src/services/notify.js';
import { allowUser } from '../../src/services/users.js';
import { recordVmEvent } from '../../src/services/vm-events.js';
import type { Vm } from '../../src/state/schema.js';
import { StateStore } from '../../src/state/store.js';
import { tempHome } from '../helpers/cli.js';

let store: StateStore;
let cleanup: () => Promise<void>;
let sent: Notice[];
let ctx: Parameters<typeof recordVmEvent>[0];

const vm: Vm = {
  id: '0123456789ab',
  user: 'alice',
  home: 'ba9876543210',
  name: 'main',
  plan: 'basic',
  image: 'berth-vm:latest',
  phase: 'ready',
  containerId: 'c0ffee',
  desired: 'running',
  resources: { cpu: 1, memoryBytes: 1024 ** 3, pids: 512, gpu: 0, sudo: false },
  createdAt: '2026-01-01T00:00:00.000Z',
  lastStartedAt: '2026-01-01T00:00:01.000Z',
};

beforeEach(async () => {
  const t = await tempHome();
  cleanup = t.cleanup;
  store = new StateStore(t.home);
  await initHome(store);
  await allowUser(store, 'alice');
  await store.transact((state) => {
    const owner = state.users.find((u) => u.login === 'alice')?.id ?? null;
    state.homes.push({ id: vm.home, owner, login: 'alice', vm: 'main', volume: 'v', diskBytes: null, createdAt: vm.createdAt });
    state.vms.push(structuredClone(vm));
  });
  sent = [];
  ctx = { store, runtime: () => Promise.reject(new Error('no engine here')), notifier: { send: async (n) => void sent.push(n) } };
});
afterEach(() => cleanup());

describe('engine events recorded on VMs', () => {
  it('a die replayed after the events follower reconnects is logged and told once', async () => {
    const die = { containerId: 'c0ffee', action: 'die' as const, exitCode: 137, time: new Date('2026-01-01T01:00:00.000Z') };
    expect(await recordVmEvent(ctx, die)).toBe('die alice/main');
    expect(await recordVmEvent(ctx, { ...die, time: new Date(die.time) })).toBeNull();
    const state = await store.read();
    expect(state.events.filter((e) => e.kind === 'die')).toHaveLength(1);
    expect(sent).toHaveLength(1);
    expect(state.vms[0]).toMatchObject({ lastStoppedAt: '2026-01-01T01:00:00.000Z', stopReason: 'exited', lastExitCode: 137 });
    // A later death is a new one.
    expect(await recordVmEvent(ctx, { ...die, time: new Date('2026-01-01T02:00:00.000Z') })).toBe('die alice/main');
    expect(sent).toHaveLength(2);
  });
});
