import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notice } from '../../src/services/core/notify.js';
import { openBerth } from '../../src/services/engine/open.js';
import { enforcePolicies } from '../../src/services/vm/vm-policies.js';
import { berth, berthJson } from '../helpers/cli.js';
import { state } from '../helpers/daemon.js';
import { docker, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

let h: VmHome;
const MIB = 1024 ** 2;

const run = (args: string[]) => berth(h.home, args);
const sh = (ref: string, script: string) => run(['vm', 'exec', ref, '--', 'sh', '-c', script]);

async function newUser(prefix: string, plan = 'quota'): Promise<string> {
  const login = unique(prefix);
  expect((await run(['user', 'allow', login, '--plan', plan])).code).toBe(0);
  return login;
}

/** The loop devices backing a disk image now. */
async function loopsOf(image: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['--noheadings', '--output', 'NAME', '--associated', image]);
  return stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  h = await vmHome();
  const plan = await run(['plan', 'add', 'quota', '--cpu', '0.5', '--ram', '256m', '--max-vms', '2', '--disk', '64m', '--rootfs', '16m']);
  expect(plan.code, plan.stderr).toBe(0);
}, 120_000);
afterAll(() => h.cleanup());

describe('a home with a quota', () => {
  let alice: string;
  beforeAll(async () => {
    alice = await newUser('a');
    await berthJson(h.home, ['vm', 'create', alice]);
  });

  it('is its own filesystem: writing past --disk gets ENOSPC in the VM, and the host gives at most the quota', async () => {
    const vm = await berthJson<{ home: string; diskBytes: number; diskUsedBytes: number }>(h.home, ['vm', 'show', alice]);
    expect(vm.diskBytes).toBe(64 * MIB);
    const image = join(h.home, 'disks', `${vm.home}.img`);
    const before = (await stat(image)).blocks * 512;
    const df = await sh(alice, 'df -Pk "$HOME" | tail -n 1');
    const totalKib = Number(df.stdout.trim().split(/\s+/)[1]);
    expect(totalKib * 1024).toBeLessThanOrEqual(64 * MIB);
    expect(totalKib * 1024).toBeGreaterThan(40 * MIB);
    const fill = await sh(alice, 'dd if=/dev/zero of="$HOME/fill" bs=1M count=100 2>&1; echo "rc=$?"');
    expect(fill.stdout).toContain('No space left on device');
    expect(fill.stdout).not.toContain('rc=0');
    // The host's disk gave the image at most its size, however much the VM tried to write.
    const after = (await stat(image)).blocks * 512;
    expect(after - before).toBeGreaterThan(30 * MIB);
    expect(after).toBeLessThanOrEqual(64 * MIB);
    const shown = await berthJson<{ diskUsedBytes: number }>(h.home, ['vm', 'show', alice]);
    expect(shown.diskUsedBytes).toBe(after);
    const listed = await berthJson<Array<{ ref: string; diskBytes: number; diskUsedBytes: number }>>(h.home, ['vm', 'list']);
    expect(listed.find((v) => v.ref === `${alice}/main`)).toMatchObject({ diskBytes: 64 * MIB, diskUsedBytes: after });
    expect((await sh(alice, 'rm -f "$HOME/fill" && echo kept > "$HOME/note"')).code).toBe(0);
  });

  it('comes back after its loop device is gone (as after a reboot): vm start attaches it again', async () => {
    const vm = await berthJson<{ home: string }>(h.home, ['vm', 'show', alice]);
    const image = join(h.home, 'disks', `${vm.home}.img`);
    expect((await run(['vm', 'stop', alice])).code).toBe(0);
    // Only this VM's device: `losetup -D` would detach other tests' disks too.
    for (const device of await loopsOf(image)) await execa('losetup', ['--detach', device]);
    expect(await loopsOf(image)).toEqual([]);
    const started = await run(['vm', 'start', alice]);
    expect(started.code, started.stderr).toBe(0);
    expect(await loopsOf(image)).toHaveLength(1);
    expect((await sh(alice, 'cat "$HOME/note"')).stdout).toBe('kept');
  });

  it('is never reached through a stale device link: a link pointing at another device is dropped, not followed', async () => {
    const vm = await berthJson<{ home: string }>(h.home, ['vm', 'show', alice]);
    const disks = join(h.home, 'disks');
    const link = join(disks, `${vm.home}.dev`);
    expect((await run(['vm', 'stop', alice])).code).toBe(0);
    const image = join(disks, `${vm.home}.img`);
    for (const device of await loopsOf(image)) await execa('losetup', ['--detach', device]);
    // Another file on a loop device, and this home's link pointing at it (a number reused after a reboot).
    const other = join(h.home, '..', 'other.img');
    await execa('truncate', ['-s', '32M', other]);
    await execa('mkfs.ext4', ['-q', '-F', other]);
    const device = (await execa('losetup', ['--find', '--show', other])).stdout.trim();
    try {
      await execa('ln', ['-sfn', device, link]);
      expect((await run(['vm', 'start', alice])).code).toBe(0);
      expect((await sh(alice, 'cat "$HOME/note"')).stdout).toBe('kept');
      expect((await execa('readlink', [link])).stdout).not.toBe(device);
    } finally {
      await execa('losetup', ['--detach', device]);
    }
    expect((await readdir(disks)).filter((f) => f.endsWith('.img'))).toContain(`${vm.home}.img`);
  });
});

describe('a home made without a quota', () => {
  it('says "no quota" until rebuilt; vm rebuild moves its files into a home of the plan quota', async () => {
    expect((await run(['plan', 'add', 'open', '--cpu', '0.5', '--ram', '256m', '--disk', '0', '--rootfs', '0'])).code).toBe(0);
    const fay = await newUser('f', 'open');
    await berthJson(h.home, ['vm', 'create', fay]);
    const before = await berthJson<{ home: string; diskBytes: number | null; rootfsBytes: number | null }>(h.home, ['vm', 'show', fay]);
    expect(before).toMatchObject({ diskBytes: null, rootfsBytes: null });
    expect((await run(['vm', 'show', fay])).stdout).toMatch(/Home:\s+\w+: no quota/);
    expect((await sh(fay, 'mkdir -p "$HOME/d" && echo old-data > "$HOME/d/f"')).code).toBe(0);
    const oldVolume = (await berthJson<Array<{ id: string; volume: string }>>(h.home, ['home', 'list', '--user', fay]))[0]
      ?.volume as string;
    expect((await run(['plan', 'set', 'open', '--disk', '64m'])).code).toBe(0);
    const rebuilt = await run(['vm', 'rebuild', fay]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const after = await berthJson<{ home: string; diskBytes: number }>(h.home, ['vm', 'show', fay]);
    expect(after.diskBytes).toBe(64 * MIB);
    expect(after.home).not.toBe(before.home);
    expect((await sh(fay, 'cat "$HOME/d/f"; stat -c %u "$HOME/d/f"; df -Pk "$HOME" | tail -n 1')).stdout).toMatch(
      /^old-data\n1000\n.*disks/,
    );
    expect(
      await docker
        .getVolume(oldVolume)
        .inspect()
        .catch(() => null),
    ).toBeNull();
  });
});

describe('what a VM writes outside its home', () => {
  it('is measured by the policy tick: a VM over its plan --rootfs is stopped with reason disk, and its owner told', async () => {
    const bob = await newUser('b');
    await berthJson(h.home, ['vm', 'create', bob]);
    expect((await sh(bob, 'dd if=/dev/zero of=/tmp/big bs=1M count=8 2>/dev/null; echo ok')).stdout).toBe('ok');
    const notices: Notice[] = [];
    const ctx = () => ({ ...openBerth(h.home), notifier: { send: async (n: Notice) => void notices.push(n) } });
    // Under the limit: left alone.
    expect((await enforcePolicies(ctx())).filter((a) => a.vm === `${bob}/main`)).toEqual([]);
    expect((await sh(bob, 'dd if=/dev/zero of=/tmp/more bs=1M count=16 2>/dev/null; echo ok')).stdout).toBe('ok');
    const actions = await enforcePolicies(ctx());
    expect(actions).toEqual([expect.objectContaining({ vm: `${bob}/main`, action: 'stopped', reason: 'disk' })]);
    expect((await docker.getContainer(await vmContainer(bob)).inspect()).State.Running).toBe(false);
    const shown = await berthJson<{ stopReason: string; rootfsBytes: number }>(h.home, ['vm', 'show', bob]);
    expect(shown).toMatchObject({ stopReason: 'disk', rootfsBytes: 16 * MIB });
    expect(notices).toEqual([expect.objectContaining({ to: bob, kind: 'vm-stopped' })]);
    expect(notices[0]?.text).toContain('outside your home');
    expect((await state(h.home)).events).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'disk-stop', user: bob })]));
  });
});

describe('homes belong to a person, not to a login', () => {
  it('a freed login given to someone new finds an empty home; the old one is kept, ownerless, until given explicitly', async () => {
    const login = await newUser('c');
    await berthJson(h.home, ['vm', 'create', login]);
    expect((await sh(login, 'echo secret > "$HOME/s"')).code).toBe(0);
    expect((await run(['vm', 'destroy', login, '--keep-data', '--yes'])).code).toBe(0);
    const refused = await run(['user', 'remove', login]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--delete-homes');
    expect(JSON.parse((await run(['user', 'show', login, '--json'])).stdout).login).toBe(login);
    const removed = await berthJson<{ homes: string[] }>(h.home, ['user', 'remove', login, '--keep-homes']);
    expect(removed.homes).toHaveLength(1);
    const [kept] = removed.homes;

    // Someone else gets the login.
    expect((await run(['user', 'allow', login, '--plan', 'quota'])).code).toBe(0);
    await berthJson(h.home, ['vm', 'create', login]);
    const cat = await sh(login, 'ls -A "$HOME"; cat "$HOME/s"');
    expect(cat.code).not.toBe(0);
    expect(cat.stdout).not.toContain('secret');

    const homes = await berthJson<Array<{ id: string; owner: string | null; login: string; mountedBy: string | null }>>(h.home, [
      'home',
      'list',
    ]);
    expect(homes.find((x) => x.id === kept)).toMatchObject({ owner: null, login, mountedBy: null });
    expect(homes.find((x) => x.mountedBy === `${login}/main`)?.id).not.toBe(kept);

    // Only an explicit assign hands the old home over.
    expect((await run(['home', 'assign', kept as string, login, '--vm', 'old'])).code).toBe(0);
    await berthJson(h.home, ['vm', 'create', login, '--name', 'old']);
    expect((await sh(`${login}/old`, 'cat "$HOME/s"')).stdout).toBe('secret');
    expect((await run(['home', 'delete', kept as string, '--yes'])).code).toBe(1);
    expect((await run(['vm', 'destroy', `${login}/old`, '--keep-data', '--yes'])).code).toBe(0);
    const deleted = await run(['home', 'delete', kept as string, '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await stat(join(h.home, 'disks', `${kept}.img`)).catch(() => null)).toBeNull();
    expect((await run(['home', 'delete', 'nothex', '--yes'])).stderr).toContain('12 hex digits');
  });
});

describe('no VM learns who else is on the host', () => {
  it("another user's login, VM name or host name does not resolve; Docker names say nothing about whose VM it is", async () => {
    const dave = await newUser('d');
    const erin = await newUser('e');
    await berthJson(h.home, ['vm', 'create', dave]);
    await berthJson(h.home, ['vm', 'create', erin, '--name', 'web']);
    const erinContainer = await docker.getContainer(await vmContainer(erin, 'web')).inspect();
    const name = erinContainer.Name.replace(/^\//, '');
    expect(name).toMatch(/^berth-[0-9a-f]{12}$/);
    expect(`${name} ${erinContainer.Config.Hostname}`).not.toContain(erin);
    const resolves = async (host: string) => (await sh(dave, `nslookup ${host} 127.0.0.11 >/dev/null 2>&1 && echo yes || echo no`)).stdout;
    // Docker's DNS answers for names it knows (so the refusals below mean something)…
    expect(await resolves(name)).toBe('yes');
    // …but none that tell who is there.
    for (const guess of [erin, `${erin}-web`, `berth-${erin}-web`, `${erin}.web`, 'web']) expect(await resolves(guess)).toBe('no');
    // Reading an address back gives only the opaque name.
    const ip = Object.values(erinContainer.NetworkSettings.Networks)[0]?.IPAddress as string;
    const ptr = await sh(dave, `nslookup ${ip} 127.0.0.11 2>&1`);
    expect(ptr.stdout).not.toContain(erin);
  });
});
