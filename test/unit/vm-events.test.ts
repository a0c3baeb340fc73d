import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Berth } from '../../src/services/core/context.js';
import type { Notice } from '../../src/services/core/notify.js';
import { localBackend } from '../../src/services/engine/local-backend.js';
import { allowUser } from '../../src/services/people/users.js';
import { initHome } from '../../src/services/setup/init.js';
import { recordVmEvent } from '../../src/services/vm/vm-events.js';
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
  const made: Berth = {
    store,
    runtime: () => Promise.reject(new Error('no engine here')),
    backend: async () => localBackend(made),
    notifier: { send: async (n) => void sent.push(n) },
  };
  ctx = made;
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

  it("on Swarm: a death on a worker names the node; the events of the task's new container are known by its labels until berth takes it on", async () => {
    await store.transact((state) => {
      Object.assign(state.vms[0] as Vm, { node: 'node-w1' });
    });
    const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 1, m));
    const labels = { user: 'alice', vm: 'main' };
    expect(await recordVmEvent(ctx, { containerId: 'c0ffee', action: 'die', exitCode: 137, time: at(0), labels, node: 'w1' })).toBe(
      'die alice/main',
    );
    // Another user's labels take nothing.
    await recordVmEvent(ctx, { containerId: 'other', action: 'start', time: at(1), labels: { user: 'bob', vm: 'main' }, node: 'w1' });
    await recordVmEvent(ctx, { containerId: 'new1', action: 'start', time: at(1), labels, node: 'w1' });
    const state = await store.read();
    // The record keeps its container: only the backend takes the new one on (after checking its hardening).
    expect(state.vms[0]?.containerId).toBe('c0ffee');
    expect(state.events.map((e) => [e.kind, e.reason])).toEqual([
      ['die', 'exit code 137 on node w1'],
      ['start', 'restarted by the engine on node w1'],
    ]);
    expect(await recordVmEvent(ctx, { containerId: 'new1', action: 'die', exitCode: 1, time: at(2), labels, node: 'w1' })).toBe(
      'die alice/main',
    );
    expect(sent.map((n) => n.kind)).toEqual(['vm-died', 'vm-died']);
  });

  it("on one engine (no node) the events of a container that is not the record's are not the VM's", async () => {
    const labels = { user: 'alice', vm: 'main' };
    expect(await recordVmEvent(ctx, { containerId: 'stray', action: 'die', exitCode: 1, time: new Date(), labels })).toBeNull();
    expect((await store.read()).events).toEqual([]);
  });
});
