import { LABEL, vmLabels } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { BerthError } from '../../errors.js';
import { attachDisk, createDiskImage, deleteDisk, detachDisk, diskPaths, diskUsed } from '../../host/disk-image.js';
import type { Home } from '../../state/schema.js';
import type { Berth } from '../core/context.js';

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

export interface HomeVmInfo {
  user: string;
  name: string;
  plan: string;
  home: string;
}

/**
 * Makes sure the home's Docker objects exist and are attached: its disk image and loop device
 * (with a quota), and its volume. Returns whether the volume was made now (to undo on failure).
 */
export async function provisionHome(
  ctx: Berth,
  runtime: DockerRuntime,
  instanceId: string,
  home: Home,
  vm: HomeVmInfo,
  userId: string,
): Promise<{ createdVolume: boolean; createdDisk: boolean }> {
  let createdDisk = false;
  let device: string | undefined;
  if (home.diskBytes) {
    const paths = diskPaths(ctx.store.home, home.id);
    if ((await diskUsed(paths)) === null) {
      await createDiskImage(paths, home.diskBytes);
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
