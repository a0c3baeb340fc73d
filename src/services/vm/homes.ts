import pLimit from 'p-limit';
import { instanceFilter, LABEL, vmLabels, volumeName } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { checkVmName, findPlan, findUser, vmRef } from '../../domain/lookups.js';
import { resourcesFor } from '../../domain/policies.js';
import { BerthError, invalidInput } from '../../errors.js';
import {
  adoptDiskImage,
  attachDisk,
  createDiskImage,
  deleteDisk,
  detachDisk,
  discardDiskImage,
  diskPaths,
  disksDir,
  diskUsed,
  dropStaleLinks,
} from '../../host/disk-image.js';
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

/** Whether a Docker volume is this home's: by its home label, or (made before ids) its names. */
function isThisHome(labels: Record<string, string>, home: Home, instanceId: string): boolean {
  if (labels[LABEL.instance] !== instanceId) return false;
  if (labels[LABEL.home]) return labels[LABEL.home] === home.id;
  // Made before homes had ids: named after the login and VM it was made for (and labelled so).
  return home.volume === `berth-${labels[LABEL.user]}-${labels[LABEL.vm]}-home`;
}

/**
 * A new home's quota filesystem, made ahead: while a create asks the engine and reserves the VM
 * (mkfs and debugfs take about as long), before the home has its id. `image` is where it is,
 * null when it could not be made (the home's own making then fails as it would have).
 */
export interface PreparedDisk {
  bytes: number;
  image: Promise<string | null>;
  taken: boolean;
}

/**
 * Starts making the quota filesystem the VM `vmName` of `login` would get as a new home (its
 * plan's disk; none for a kept home or no quota). A guess from the state now: the create's
 * transaction decides, and a disk that does not fit is discarded (discardPreparedDisk).
 */
export function prepareHomeDisk(ctx: Berth, state: State, login: string, vmName: string, planName?: string): PreparedDisk | undefined {
  let bytes = 0;
  try {
    const user = findUser(state, login);
    if (state.homes.some((h) => h.owner === user.id && h.vm === vmName && !mountedBy(state, h))) return undefined;
    bytes = resourcesFor(findPlan(state, planName ?? user.plan), effectiveConfig(state.config)).diskBytes ?? 0;
  } catch {
    return undefined;
  }
  if (bytes <= 0) return undefined;
  const image = `${diskPaths(ctx.store.home, `prepared-${newId()}`).image}`;
  return {
    bytes,
    image: createDiskImage({ image, link: '' }, bytes).then(
      () => image,
      () => null,
    ),
    taken: false,
  };
}

/** Deletes a prepared disk no home took (once it is made). */
export async function discardPreparedDisk(prepared: PreparedDisk | undefined): Promise<void> {
  const image = await prepared?.image;
  if (image && !prepared?.taken) await discardDiskImage(image).catch(() => undefined);
}

/** Takes the prepared disk as this home's image when it is of the home's size; false when it is not there. */
async function takePreparedDisk(prepared: PreparedDisk | undefined, bytes: number, image: string): Promise<boolean> {
  if (!prepared || prepared.taken || prepared.bytes !== bytes) return false;
  const made = await prepared.image;
  if (!made) return false;
  await adoptDiskImage(made, { image, link: '' });
  prepared.taken = true;
  return true;
}

export interface HomeVmInfo {
  user: string;
  name: string;
  plan: string;
  home: string;
}

/**
 * Makes sure the home's Docker objects exist and are attached: its disk image and loop device
 * (with a quota), and its volume. Returns whether the volume was made now (to undo on failure).
 * A new home takes `prepared` (prepareHomeDisk) as its image when it is of the home's size.
 */
export async function provisionHome(
  ctx: Berth,
  runtime: DockerRuntime,
  instanceId: string,
  home: Home,
  vm: HomeVmInfo,
  userId: string,
  prepared?: PreparedDisk,
): Promise<{ createdVolume: boolean; createdDisk: boolean }> {
  let createdDisk = false;
  let device: string | undefined;
  if (home.diskBytes) {
    const paths = diskPaths(ctx.store.home, home.id);
    if ((await diskUsed(paths)) === null) {
      if (!(await takePreparedDisk(prepared, home.diskBytes, paths.image))) await createDiskImage(paths, home.diskBytes);
      createdDisk = true;
    }
    await attachDisk(paths);
    device = paths.link;
  }
  const existing = await runtime.volume(home.volume);
  if (existing) {
    if (!isThisHome(existing.labels, home, instanceId)) {
      throw new BerthError(
        'VOLUME_CONFLICT',
        `A Docker volume named ${home.volume} exists and is not home ${home.id}.`,
        `Inspect it (docker volume inspect ${home.volume}) and remove or rename it.`,
      );
    }
    return { createdVolume: false, createdDisk };
  }
  await runtime.createVolume(home.volume, vmLabels(instanceId, vm, userId), device);
  return { createdVolume: true, createdDisk };
}

/** Before a VM starts: its home's disk attached (after a reboot, or a device detached by hand). */
export async function attachHome(ctx: Berth, home: Home | undefined): Promise<void> {
  if (home?.diskBytes) await attachDisk(diskPaths(ctx.store.home, home.id));
}

/** After the VM's container is gone: the home's disk detached, or the whole home deleted. */
export async function releaseHome(ctx: Berth, runtime: DockerRuntime, home: Home, options: { delete: boolean }): Promise<void> {
  if (options.delete) await runtime.removeVolume(home.volume);
  if (home.diskBytes) {
    const paths = diskPaths(ctx.store.home, home.id);
    if (options.delete) await deleteDisk(paths);
    else await detachDisk(paths);
  }
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

function checkHomeId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!ID_PATTERN.test(id)) {
    throw invalidInput('INVALID_HOME', `"${printable(input)}" is not a home id.`, 'Home ids are 12 hex digits: see berth home list.');
  }
  return id;
}

function findHome(state: State, id: string): Home {
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
  const runtime = await ctx.runtime();
  await releaseHome(ctx, runtime, home, { delete: true });
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
