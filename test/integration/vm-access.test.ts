import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Actor, loginActor, OPERATOR } from '../../src/domain/actor.js';
import type { BerthError } from '../../src/errors.js';
import { openBerth } from '../../src/services/engine/open.js';
import { latestVmEvents } from '../../src/services/vm/vm-event-log.js';
import { execInVm } from '../../src/services/vm/vm-exec.js';
import { createVm, destroyVm, startVm, stopVm } from '../../src/services/vm/vms.js';
import { berth, berthJson } from '../helpers/cli.js';
import { unique, type VmHome, vmHome } from '../helpers/docker.js';

let h: VmHome;
let alice: string;
let bob: string;

async function refusal(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  h = await vmHome();
  alice = unique('a');
  bob = unique('b');
  await berth(h.home, ['user', 'allow', alice]);
  await berth(h.home, ['user', 'allow', bob]);
  await berthJson(h.home, ['vm', 'create', bob]);
});
afterAll(() => h.cleanup());

describe("a user acting through a front-end (bot, SSH) on someone else's VM", () => {
  it('is told there is no such VM, whatever the action, and nothing happens', async () => {
    const ctx = openBerth(h.home);
    const asAlice: Actor = loginActor(alice, 'user');
    for (const attempt of [
      () => stopVm(ctx, bob, asAlice),
      () => startVm(ctx, `${bob}/main`, asAlice),
      () => destroyVm(ctx, bob, {}, asAlice),
      () => execInVm(ctx, bob, { cmd: ['id'] }, asAlice),
      () => createVm(ctx, { user: bob, name: 'extra' }, asAlice),
      () => startVm(ctx, `${bob}/no-such-vm`, asAlice),
    ]) {
      const err = await refusal(attempt());
      expect(err.code).toBe('VM_NOT_FOUND');
      expect(err.message).not.toContain(bob);
    }
    const vm = (await berthJson<Array<{ state: string }>>(h.home, ['vm', 'list', '--user', bob]))[0];
    expect(vm?.state).toBe('running');
  });

  it("is an admin's too: an SSH or bot login reaches only its own VMs, whatever its role", async () => {
    const ctx = openBerth(h.home);
    const asAdmin = loginActor(alice, 'admin');
    for (const attempt of [
      () => stopVm(ctx, bob, asAdmin),
      () => execInVm(ctx, `${bob}/main`, { cmd: ['id'] }, asAdmin),
      () => destroyVm(ctx, bob, {}, asAdmin),
      () => createVm(ctx, { user: bob, name: 'extra' }, asAdmin),
    ]) {
      expect((await refusal(attempt())).code).toBe('VM_NOT_FOUND');
    }
    expect((await berthJson<Array<{ state: string }>>(h.home, ['vm', 'list', '--user', bob]))[0]?.state).toBe('running');
  });

  it('may not pick another plan, nor override maintenance', async () => {
    const ctx = openBerth(h.home);
    const asAlice: Actor = { ...loginActor(alice, 'user'), bypassMaintenance: true };
    expect((await refusal(createVm(ctx, { user: alice, plan: 'pro' }, asAlice))).code).toBe('PLAN_NOT_YOURS');
    await berth(h.home, ['maintenance', 'on', '--reason', 'tests']);
    try {
      expect((await refusal(createVm(ctx, { user: alice }, asAlice))).code).toBe('MAINTENANCE');
    } finally {
      await berth(h.home, ['maintenance', 'off']);
    }
    const own = await createVm(ctx, { user: alice }, loginActor(alice, 'user'));
    expect(own.user).toBe(alice);
  });

  it('logs who stopped a VM (a policy by its name), not a bare "user" or "operator"', async () => {
    const ctx = openBerth(h.home);
    const lastStop = async () => (await latestVmEvents(ctx)).find((e) => e.vm === `${bob}/main`);
    await stopVm(ctx, bob, loginActor(bob, 'user'), 'user');
    expect(await lastStop()).toMatchObject({ kind: 'stop', reason: `user ${bob}` });
    await startVm(ctx, bob);
    await stopVm(ctx, bob, { role: 'admin', login: 'carol', reach: 'any' }, 'operator');
    expect(await lastStop()).toMatchObject({ kind: 'stop', reason: 'admin carol' });
    await startVm(ctx, bob);
    await stopVm(ctx, bob, OPERATOR, 'idle');
    expect(await lastStop()).toMatchObject({ kind: 'idle-stop', reason: 'idle' });
    await startVm(ctx, bob);
  });

  it('keeps users and plans with VMs from being removed', async () => {
    const user = await berth(h.home, ['user', 'remove', bob]);
    expect(user.code).toBe(1);
    expect(user.stderr).toContain(`still has VMs: ${bob}/main`);
  });
});
