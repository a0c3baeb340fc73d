import pLimit from 'p-limit';
import { instanceFilter, volumeName } from '../../docker/labels.js';
import { checkVmName, findUser, vmRef } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import { attachDisk, diskPaths, disksDir, diskUsed, dropStaleLinks } from '../../host/disk-image.js';
import { newId } from '../../state/migrations.js';
import { type Home, ID_PATTERN, type State, type User, type Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { checkLogin, printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';

/** The VM mounting a home, if any. */
export const mountedBy = (state: State, home: Home) => state.vms.find((vm) => vm.home === home.id);

/**
 * Inside a create transaction: the home a new VM `vmName` of `user` mounts. A home kept from an
 * earlier VM of the same person (by user id, never by login) and name comes back; otherwise a
 * new one is recorded, with `diskBytes` as its quota (0: none).
 */
export function claimHome(state: State, user: User, vmName: string, diskBytes: number): { home: Home; fresh: boolean } {
  const kept = state.homes.find((h) => h.owner === user.id && h.vm === vmName && !mountedBy(state, h));
  if (kept) return { home: kept, fresh: false };
  const id = newId();
  const home: Home = {
    id,
    owner: user.id,
    login: user.login,
    vm: vmName,
    volume: volumeName(id),
    diskBytes: diskBytes > 0 ? diskBytes : null,
    createdAt: new Date().toISOString(),
  };
  state.homes.push(home);
  return { home, fresh: true };
}

export interface HomeView {
  id: string;
  /** The owner's login now; null when the owner was removed. */
  owner: string | null;
  /** The login it was made for (or last given to). */
  login: string;
  vm: string;
  /** The VM mounting it now (USER/NAME), or null when kept. */
  mountedBy: string | null;
  volume: string;
  /** Quota in bytes; null: none. */
  diskBytes: number | null;
  /** Bytes its filesystem takes on the host (homes with a quota); null: not measured. */
  usedBytes: number | null;
  createdAt: string;
}

export async function listHomes(ctx: Berth, filter: { user?: string; kept?: boolean } = {}): Promise<HomeView[]> {
  const state = await ctx.store.read();
  const owner = filter.user === undefined ? undefined : findUser(state, checkLogin(filter.user)).id;
  const logins = new Map(state.users.map((u) => [u.id, u.login]));
  const homes = state.homes.filter((h) => (owner === undefined || h.owner === owner) && (!filter.kept || !mountedBy(state, h)));
  return Promise.all(
    homes.map(async (h) => {
      const vm = mountedBy(state, h);
      return {
        id: h.id,
        owner: h.owner === null ? null : (logins.get(h.owner) ?? null),
        login: h.login,
        vm: h.vm,
        mountedBy: vm ? vmRef(vm) : null,
        volume: h.volume,
        diskBytes: h.diskBytes,
        usedBytes: h.diskBytes ? await diskUsed(diskPaths(ctx.store.home, h.id)) : null,
        createdAt: h.createdAt,
      };
    }),
  );
}

export function checkHomeId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!ID_PATTERN.test(id)) {
    throw invalidInput('INVALID_HOME', `"${printable(input)}" is not a home id.`, 'Home ids are 12 hex digits: see berth home list.');
  }
  return id;
}

export function findHome(state: State, id: string): Home {
  const home = state.homes.find((h) => h.id === id);
  if (!home) throw new BerthError('HOME_NOT_FOUND', `There is no home ${id}.`, 'See the homes with: berth home list');
  return home;
}

function checkKept(state: State, home: Home): void {
  const vm = mountedBy(state, home);
  if (vm) {
    throw new BerthError(
      'HOME_IN_USE',
      `Home ${home.id} is mounted by VM ${vmRef(vm)}.`,
      `Destroy the VM first (berth vm destroy ${vmRef(vm)}, with --keep-data to keep the home).`,
    );
  }
}

/** Deletes a kept home: its volume, disk image and record. */
export async function deleteHome(ctx: Berth, input: string): Promise<Home> {
  const id = checkHomeId(input);
  const state = await ctx.store.read();
  const home = findHome(state, id);
  checkKept(state, home);
  await (await ctx.backend()).releaseHome({ node: home.node }, home, { delete: true });
  await ctx.store.transact((s) => {
    s.homes = s.homes.filter((h) => h.id !== id);
  });
  return home;
}

/** Gives a kept home to a user explicitly (the only way a home changes hands), for their VM `vm`. */
export async function assignHome(ctx: Berth, input: string, login: string, options: { vm?: string } = {}): Promise<Home> {
  const id = checkHomeId(input);
  checkLogin(login);
  const vmName = options.vm === undefined ? undefined : checkVmName(options.vm);
  return ctx.store.transact((state) => {
    const home = findHome(state, id);
    checkKept(state, home);
    const user = findUser(state, login);
    const name = vmName ?? home.vm;
    const clash = state.homes.find((h) => h !== home && h.owner === user.id && h.vm === name && !mountedBy(state, h));
    if (clash) {
      throw new BerthError(
        'HOME_EXISTS',
        `User "${login}" already has a kept home for a VM named ${name} (${clash.id}).`,
        'Give this one for another VM name: --vm NAME, or delete the other first.',
      );
    }
    Object.assign(home, { owner: user.id, login: user.login, vm: name });
    return home;
  });
}

/** Homes of a user that no VM mounts: what `user remove` must be told what to do with. */
export const keptHomesOf = (state: State, user: User) => state.homes.filter((h) => h.owner === user.id && !mountedBy(state, h));

/**
 * After a reboot (loop devices are gone; the engine may have failed to start VMs whose home it
 * could not mount): drops stale device links first, then re-attaches the disk of every VM that
 * should run and starts those the engine left stopped. Run by the daemon at start and `berth up`.
 */
export async function restoreHomes(
  ctx: Berth,
): Promise<{ attached: string[]; started: string[]; failed: Array<{ vm: string; error: string }> }> {
  const state = await ctx.store.read();
  const out = { attached: [] as string[], started: [] as string[], failed: [] as Array<{ vm: string; error: string }> };
  await dropStaleLinks(disksDir(ctx.store.home));
  const wanted = state.vms.filter((vm) => vm.desired === 'running' && vm.phase === 'ready' && vm.containerId);
  if (wanted.length === 0) return out;
  // Only VMs with a home quota: the others' homes are plain volumes the engine mounts itself.
  const withDisk = wanted.flatMap((vm) => {
    const home = state.homes.find((h) => h.id === vm.home);
    return home?.diskBytes ? [{ vm, home }] : [];
  });
  if (withDisk.length === 0) return out;
  const runtime = await ctx.runtime();
  // Which of them run: one engine call for all.
  const containers = new Map((await runtime.containers(instanceFilter(state.instanceId))).map((c) => [c.id, c]));
  const toStart: Vm[] = [];
  for (const { vm, home } of withDisk) {
    try {
      // One at a time: each takes a free loop device.
      await attachDisk(diskPaths(ctx.store.home, home.id));
      out.attached.push(vmRef(vm));
      const container = containers.get(vm.containerId as string);
      if (container && container.state !== 'running') toStart.push(vm);
    } catch (err) {
      out.failed.push({ vm: vmRef(vm), error: (err as Error).message });
    }
  }
  const limit = pLimit(effectiveConfig(state.config)['bulk.concurrency']);
  await Promise.all(
    toStart.map((vm) =>
      limit(async () => {
        try {
          await runtime.startContainer(vm.containerId as string);
          out.started.push(vmRef(vm));
        } catch (err) {
          out.failed.push({ vm: vmRef(vm), error: (err as Error).message });
        }
      }),
    ),
  );
  return out;
}
