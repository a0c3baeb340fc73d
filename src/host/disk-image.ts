import { closeSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import { readdir, readFile, readlink, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BerthError } from '../errors.js';
import { runTool, type ToolFailure } from './run-tool.js';

/**
 * A home with a quota is its own ext4 filesystem in a sparse image file under the berth home,
 * attached to a loop device. Docker's local volume driver mounts it through a link
 * (`disks/HOME.dev` → `/dev/loopN`) that berth keeps pointing at the right device: loop devices
 * do not survive a reboot and come back under other numbers, so the link is checked (and a wrong
 * one removed) before anything is attached, and re-made at every start. A link never points at a
 * device backed by another file: a VM whose disk is not attached fails to start, it never mounts
 * someone else's.
 */

/** Each external command may take this long (mkfs of a large sparse image included). */
const COMMAND_TIMEOUT_MS = 60_000;

export interface DiskPaths {
  image: string;
  link: string;
}

export const disksDir = (berthHome: string) => join(berthHome, 'disks');

export function diskPaths(berthHome: string, homeId: string): DiskPaths {
  const dir = disksDir(berthHome);
  return { image: join(dir, `${homeId}.img`), link: join(dir, `${homeId}.dev`) };
}

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    return await runTool(cmd, args, { timeoutMs: COMMAND_TIMEOUT_MS });
  } catch (err) {
    const e = err as Partial<ToolFailure>;
    if (e.code === 'ENOENT') {
      throw new BerthError(
        'DISK_QUOTA_UNAVAILABLE',
        `${cmd} is not installed: berth cannot make home filesystems with quotas.`,
        'Install util-linux and e2fsprogs (apt-get install util-linux e2fsprogs), or turn home quotas off: berth config set disk 0',
      );
    }
    const detail = (e.stderr || e.shortMessage || String(err)).trim().split('\n').slice(-2).join(' ');
    if (/permission denied|operation not permitted|must be root/i.test(detail)) {
      throw new BerthError(
        'DISK_QUOTA_UNAVAILABLE',
        `berth may not attach loop devices (${detail}): home quotas need root.`,
        'Run berth as root (sudo), or turn home quotas off: berth config set disk 0 (or plan set PLAN --disk 0)',
      );
    }
    throw new BerthError('DISK_ERROR', `${cmd} failed: ${detail}`, 'See the message above; the home was not changed.');
  }
}

/** Makes the sparse image with an empty ext4 filesystem whose root belongs to uid 1000. */
export async function createDiskImage(paths: DiskPaths, bytes: number): Promise<void> {
  const tmp = `${paths.image}.${process.pid}.tmp`;
  try {
    // The empty sparse file synchronously (a few microseconds): mkfs starts at once, even when
    // the caller then keeps the event loop busy (a create loading the Docker client meanwhile).
    mkdirSync(join(paths.image, '..'), { recursive: true, mode: 0o700 });
    const file = openSync(tmp, 'wx', 0o600);
    try {
      ftruncateSync(file, bytes);
    } finally {
      closeSync(file);
    }
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-m',
      '0',
      '-L',
      'berth-home',
      '-E',
      'root_owner=1000:1000,lazy_itable_init=1,lazy_journal_init=1',
      tmp,
    ]);
    // An empty home is filled from /etc/skel on first start: no lost+found in it.
    await run('debugfs', ['-w', '-R', 'rmdir lost+found', tmp]);
    await rename(tmp, paths.image);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Makes `image` (made by createDiskImage at another path, unattached) the image of `paths`. */
export async function adoptDiskImage(image: string, paths: DiskPaths): Promise<void> {
  await rename(image, paths.image);
}

/** Deletes an image that was never attached. */
export async function discardDiskImage(image: string): Promise<void> {
  await rm(image, { force: true });
}

/** The loop devices backed by `image` now. */
async function loopsOf(image: string): Promise<string[]> {
  const out = await run('losetup', ['--noheadings', '--output', 'NAME', '--associated', image]);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\/dev\/loop\d+$/.test(l));
}

/** The file behind a loop device, or null when it has none (or is not a loop device). */
async function backingFile(device: string): Promise<string | null> {
  const name = basename(device);
  if (!/^loop\d+$/.test(name)) return null;
  const text = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => null);
  return text === null ? null : text.trim().replace(/ \(deleted\)$/, '');
}

/** Whether the link points at a device backed by exactly this image. */
async function linkIsRight(paths: DiskPaths): Promise<boolean> {
  const target = await readlink(paths.link).catch(() => null);
  if (!target) return false;
  const backing = await backingFile(target);
  return backing !== null && backing === (await realpath(paths.image).catch(() => paths.image));
}

/**
 * Removes every link under `disksDir` that no longer points at its own image's device (after a
 * reboot, or a device detached by hand): done before any attach, so that a device number handed
 * to another image is never reached through a stale link.
 */
export async function dropStaleLinks(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let dropped = 0;
  for (const name of names.filter((n) => n.endsWith('.dev'))) {
    const paths = { link: join(dir, name), image: join(dir, name.replace(/\.dev$/, '.img')) };
    if (!(await linkIsRight(paths))) {
      await rm(paths.link, { force: true });
      dropped++;
    }
  }
  return dropped;
}

/**
 * Attaches the image (once: under a lock, so that two processes starting the same VM never attach
 * it twice) and points its link at the device; returns the device.
 */
export async function attachDisk(paths: DiskPaths): Promise<string> {
  if (await linkIsRight(paths)) return readlink(paths.link);
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile
    .lock(paths.image, { realpath: false, stale: 30_000, retries: { retries: 100, minTimeout: 20, maxTimeout: 200 } })
    .catch((err: Error) => {
      throw new BerthError('DISK_BUSY', `Another berth process holds the disk ${paths.image} (${err.message}).`, 'Try again in a moment.');
    });
  try {
    return await attachLocked(paths);
  } finally {
    await release().catch(() => undefined);
  }
}

async function attachLocked(paths: DiskPaths): Promise<string> {
  if (await linkIsRight(paths)) return readlink(paths.link);
  await stat(paths.image).catch(() => {
    throw new BerthError(
      'DISK_MISSING',
      `The disk image ${paths.image} of this home is missing.`,
      'Restore it from a backup, or destroy the VM without --keep-data and create it again.',
    );
  });
  await dropStaleLinks(join(paths.link, '..'));
  const [attached] = await loopsOf(paths.image);
  const device = attached ?? (await run('losetup', ['--find', '--show', paths.image])).trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw new BerthError('DISK_ERROR', `losetup answered "${device}".`, 'Check losetup --list.');
  const tmp = `${paths.link}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await symlink(device, tmp);
  await rename(tmp, paths.link);
  return device;
}

/** Detaches the image's loop devices (a mounted one detaches once unmounted) and drops the link. */
export async function detachDisk(paths: DiskPaths): Promise<void> {
  await rm(paths.link, { force: true });
  if (!(await stat(paths.image).catch(() => null))) return;
  for (const device of await loopsOf(paths.image)) await run('losetup', ['--detach', device]).catch(() => undefined);
}

/** Detaches and deletes the image. */
export async function deleteDisk(paths: DiskPaths): Promise<void> {
  await detachDisk(paths);
  await rm(paths.image, { force: true });
}

/** Bytes the image takes on the host's disk (what the home's files use, and the filesystem's own). */
export async function diskUsed(paths: DiskPaths): Promise<number | null> {
  const st = await stat(paths.image).catch(() => null);
  return st ? st.blocks * 512 : null;
}
