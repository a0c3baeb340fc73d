import { LABEL, vmLabels } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { findPlan, findUser } from '../../domain/lookups.js';
import { resourcesFor } from '../../domain/policies.js';
import { BerthError } from '../../errors.js';
import {
  adoptDiskImage,
  attachDisk,
  createDiskImage,
  deleteDisk,
  detachDisk,
  discardDiskImage,
  diskPaths,
  diskUsed,
} from '../../host/disk-image.js';
import { newId } from '../../state/migrations.js';
import type { Home, State } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import type { PreparedDisk } from '../core/vm-backend.js';

/**
 * A home's storage on an engine's host: its Docker volume and, with a quota, the disk image and
 * loop device under it. The backends make, attach and release it; only they know where it lives.
 */

/** Whether a Docker volume is this home's: by its home label, or (made before ids) its names. */
function isThisHome(labels: Record<string, string>, home: Home, instanceId: string): boolean {
  if (labels[LABEL.instance] !== instanceId) return false;
  if (labels[LABEL.home]) return labels[LABEL.home] === home.id;
  // Made before homes had ids: named after the login and VM it was made for (and labelled so).
  return home.volume === `berth-${labels[LABEL.user]}-${labels[LABEL.vm]}-home`;
}

/**
 * Starts making the quota filesystem the VM `vmName` of `login` would get as a new home (its
 * plan's disk; none for a kept home or without a quota). A guess from the state now: the create's
 * transaction decides, and a disk no home took is deleted (discardPreparedDisk).
 */
export function prepareHomeDisk(ctx: Berth, state: State, login: string, vmName: string, planName?: string): PreparedDisk | undefined {
  let bytes = 0;
  try {
    const user = findUser(state, login);
    const kept = state.homes.some((h) => h.owner === user.id && h.vm === vmName && !state.vms.some((vm) => vm.home === h.id));
    if (kept) return undefined;
    bytes = resourcesFor(findPlan(state, planName ?? user.plan), effectiveConfig(state.config)).diskBytes ?? 0;
  } catch {
    return undefined;
  }
  if (bytes <= 0) return undefined;
  const image = diskPaths(ctx.store.home, `prepared-${newId()}`).image;
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
