import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Actor } from '../../domain/actor.js';
import { findVm, vmRef } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import type { Home, State } from '../../state/schema.js';
import { DEFAULT_KEEP, keepFlags } from '../../values/backup.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { checkHomeId, findHome, mountedBy } from '../vm/homes.js';
import { startVm, stopVm } from '../vm/vms.js';
import { describeRepository, type RepositoryAccess, repositoryAccess, repositoryOf, resticOn } from './repository.js';

/**
 * Snapshots of homes. Each is tagged with the home's id and its owner's id (never a login: a
 * login can be given to someone else), and only ever listed, restored or dumped for the home it
 * was taken of. A running VM is frozen for the read (its processes paused, then let go), so the
 * snapshot is of one moment; a stopped VM's home is read as it is.
 */

/** Caps restic needs: reading every file of a home; writing a home back with its owners and modes. */
const READ_CAPS = ['DAC_READ_SEARCH'];
const WRITE_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];
/** restic's host name for every snapshot: the host berth runs on does not matter, the tags do. */
const HOST = 'berth';

export const homeTag = (homeId: string) => `home:${homeId}`;
export const userTag = (userId: string) => `user:${userId}`;

export interface SnapshotView {
  /** restic's short id (8 hex digits). */
  id: string;
  /** The full id (64 hex digits). */
  longId: string;
  time: string;
  home: string;
  /** The owner's user id when it was taken. */
  user: string | null;
  /** Why it was taken: schedule, operator, user, safety (before a restore). */
  reason: string;
}

interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  tags?: string[];
}

const tagValue = (tags: string[] | undefined, key: string) => tags?.find((t) => t.startsWith(`${key}:`))?.slice(key.length + 1) ?? null;

function snapshotView(s: ResticSnapshot): SnapshotView | null {
  const home = tagValue(s.tags, 'home');
  if (!home) return null;
  return {
    id: s.short_id,
    longId: s.id,
    time: s.time,
    home,
    user: tagValue(s.tags, 'user'),
    reason: tagValue(s.tags, 'reason') ?? 'schedule',
  };
}

/** A home by its id, or by USER[/VM] (the home that VM mounts). */
export function homeFor(state: State, ref: string): Home {
  if (/^[0-9a-f]{12}$/i.test(ref.trim())) return findHome(state, checkHomeId(ref));
  const vm = findVm(state, ref);
  return findHome(state, vm.home);
}

/**
 * One backup or restore at a time on this host, across the CLI and the daemon. Holding the lock,
 * anything an earlier run left (its process killed: a restic container still running, restic's
 * own locks in the repository) is cleared first.
 */
export async function exclusive<T>(ctx: Berth, work: () => Promise<T>): Promise<T> {
  const dir = join(ctx.store.home, 'backups');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(dir, { lockfilePath: join(dir, 'run.lock'), stale: 10_000, update: 2_000, retries: 0 }).catch(() => {
    throw new BerthError(
      'BACKUP_BUSY',
      'Another backup or restore is running on this host.',
      'Wait for it to end (one runs at a time), then try again; a run that was killed lets go within 10 s.',
    );
  });
  try {
    await clearLeftovers(ctx);
    return await work();
  } finally {
    await release().catch(() => undefined);
  }
}

/**
 * What a killed run left: its restic containers and a VM it froze (berth pauses a VM only for a
 * backup's read) on every engine holding homes, then restic's locks.
 */
async function clearLeftovers(ctx: Berth): Promise<void> {
  const state = await ctx.store.snapshot();
  const backend = await ctx.backend();
  const nodes = [...new Set(state.homes.map((h) => h.node))];
  // Only runs made under the lock (which this run now holds): listings and dumps run beside them.
  const labels = ['dev.berth.backup-locked=true', `dev.berth.instance=${state.instanceId}`];
  for (const node of nodes) {
    const runtime = await backend.engineOf({ ...(node ? { node } : {}) }).catch(() => null);
    for (const c of (await runtime?.containers(labels).catch(() => [])) ?? []) await runtime?.removeContainer(c.id).catch(() => undefined);
    const vms = (await runtime?.containers([`dev.berth.instance=${state.instanceId}`, 'dev.berth.vm']).catch(() => [])) ?? [];
    for (const c of vms.filter((x) => x.state === 'paused')) await runtime?.unpauseContainer(c.id).catch(() => undefined);
  }
  const access = await repositoryAccess(ctx).catch(() => null);
  if (access)
    await resticOn(ctx, access, { args: ['unlock', '--remove-all'], caps: [], what: 'Clearing stale repository locks' }).catch(
      () => undefined,
    );
}

/** The home's engine and the VM mounting it (running or not). */
async function whereIs(ctx: Berth, home: Home) {
  const backend = await ctx.backend();
  const runtime = await backend.engineOf({ ...(home.node ? { node: home.node } : {}) });
  const state = await ctx.store.snapshot();
  const vm = mountedBy(state, home) ?? null;
  const container = vm ? await backend.containerOf(vm) : null;
  const running = container ? ((await runtime.inspectContainer(container))?.running ?? false) : false;
  return { backend, runtime, vm, container, running };
}

export interface BackupResult {
  snapshot: string;
  home: string;
  /** Bytes the repository grew by (after deduplication and compression). */
  bytesAdded: number;
  /** The home's bytes read. */
  bytesProcessed: number;
  files: number;
  seconds: number;
}

/** Takes a snapshot of `home` (a running VM frozen for the read), within backup.deadline. */
async function snapshotHome(ctx: Berth, access: RepositoryAccess, home: Home, reason: string, stop?: AbortSignal): Promise<BackupResult> {
  const cfg = effectiveConfig((await ctx.store.snapshot()).config);
  const { runtime, container, running } = await whereIs(ctx, home);
  const started = Date.now();
  const tags = [homeTag(home.id), ...(home.owner ? [userTag(home.owner)] : []), `reason:${reason}`];
  const frozen = running && container ? container : null;
  if (frozen) await runtime.pauseContainer(frozen);
  let out: string;
  try {
    out = await withDeadline(cfg['backup.deadline'] * 1000, `back up home ${home.id}`, (deadline) =>
      resticOn(ctx, access, {
        runtime,
        args: ['backup', '/data', '--json', '--host', HOST, ...tags.flatMap((t) => ['--tag', t])],
        home: { volume: home.volume, readOnly: true },
        caps: READ_CAPS,
        locked: true,
        // The deadline, or the caller giving up (the daemon stopping): restic's container is killed.
        signal: stop ? AbortSignal.any([deadline, stop]) : deadline,
        what: `Backing up home ${home.id}`,
      }),
    );
  } finally {
    if (frozen) await runtime.unpauseContainer(frozen).catch(() => undefined);
  }
  const summary = out
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return null;
      }
    })
    .find((m) => m?.message_type === 'summary');
  if (!summary) throw new BerthError('BACKUP_FAILED', `Backing up home ${home.id} gave no summary.`, 'See berth backup check.');
  return {
    snapshot: String(summary.snapshot_id).slice(0, 8),
    home: home.id,
    bytesAdded: Number(summary.data_added ?? 0),
    bytesProcessed: Number(summary.total_bytes_processed ?? 0),
    files: Number(summary.total_files_processed ?? 0),
    seconds: (Date.now() - started) / 1000,
  };
}

/** `berth home backup HOME|USER[/VM]`, the scheduler and /backup: one snapshot of the home now. */
export async function backupHome(ctx: Berth, ref: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<BackupResult> {
  const home = homeFor(await ctx.store.read(), ref);
  const access = await repositoryAccess(ctx);
  return exclusive(ctx, () => snapshotHome(ctx, access, home, options.reason ?? 'operator', options.signal));
}

/** The home ids whose snapshots are `home`'s: its own, and those of the homes it replaced. */
const idsOf = (home: Pick<Home, 'id' | 'lineage'>) => [home.id, ...(home.lineage ?? [])];

/** Every snapshot of the repository (newest first), or of one home (and the homes it replaced). */
export async function listSnapshots(ctx: Berth, filter: { home?: string } = {}): Promise<SnapshotView[]> {
  const access = await repositoryAccess(ctx);
  const state = await ctx.store.snapshot();
  const ids = filter.home ? idsOf(state.homes.find((h) => h.id === filter.home) ?? { id: filter.home }) : null;
  const out = await resticOn(ctx, access, {
    // Several --tag options: a snapshot with any of them.
    args: ['snapshots', '--json', '--no-lock', ...(ids ? ids.flatMap((id) => ['--tag', homeTag(id)]) : [])],
    caps: [],
    what: 'Listing the snapshots',
  });
  const all = (JSON.parse(out || '[]') as ResticSnapshot[] | null) ?? [];
  return all
    .flatMap((s) => snapshotView(s) ?? [])
    .filter((s) => !ids || ids.includes(s.home))
    .sort((a, b) => b.time.localeCompare(a.time));
}

/** `berth home backups HOME|USER[/VM]`: the snapshots of that home. */
export async function homeSnapshots(ctx: Berth, ref: string): Promise<{ home: Home; snapshots: SnapshotView[] }> {
  const home = homeFor(await ctx.store.read(), ref);
  return { home, snapshots: await listSnapshots(ctx, { home: home.id }) };
}

/** A snapshot id as given (8 or 64 hex digits). */
export function checkSnapshotId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!/^([0-9a-f]{8}|[0-9a-f]{64})$/.test(id))
    throw invalidInput('INVALID_SNAPSHOT', `"${input.slice(0, 70)}" is not a snapshot id.`, 'See the snapshots: berth home backups HOME');
  return id;
}

/** The snapshot `id` of `home`; another home's (or nobody's) is not found. */
async function snapshotOf(ctx: Berth, home: Home, id: string): Promise<SnapshotView> {
  const wanted = checkSnapshotId(id);
  const found = (await listSnapshots(ctx, { home: home.id })).find((s) => s.id === wanted || s.longId === wanted);
  if (!found)
    throw new BerthError(
      'SNAPSHOT_NOT_FOUND',
      `Home ${home.id} has no snapshot ${wanted}.`,
      `See its snapshots: berth home backups ${home.id}`,
    );
  return found;
}

/** The bytes a snapshot's files take restored. */
async function restoreSize(ctx: Berth, access: RepositoryAccess, snapshot: SnapshotView): Promise<number> {
  const out = await resticOn(ctx, access, {
    args: ['stats', '--json', '--no-lock', '--mode', 'restore-size', snapshot.longId],
    caps: [],
    what: 'Measuring the snapshot',
  });
  return Number((JSON.parse(out) as { total_size?: number }).total_size ?? 0);
}

export interface RestoreResult {
  home: string;
  snapshot: string;
  /** The snapshot taken of the home just before (in place). */
  safety: string | null;
  /** The home restored into: the same one, or a new one. */
  into: string;
  bytes: number;
  restarted: boolean;
}

/**
 * The bytes a home's filesystem can hold (used and free, as df counts them for its owner): the
 * quota less what the filesystem keeps for itself. Read in a container with the home read-only.
 */
async function homeRoom(ctx: Berth, access: RepositoryAccess, home: Home): Promise<number> {
  const { runtime } = await whereIs(ctx, home);
  const out = await resticOn(ctx, access, {
    runtime,
    args: [],
    home: { volume: home.volume, readOnly: true },
    caps: [],
    measure: true,
    what: `Measuring home ${home.id}`,
  });
  const room = Number(out.trim());
  return Number.isFinite(room) && room > 0 ? room : Number.POSITIVE_INFINITY;
}

/**
 * `berth home restore HOME|USER[/VM] --snapshot ID`: the home's files as they were. A snapshot of
 * another home is refused; one that does not fit the quota too, before anything changes. In
 * place: the VM stopped, a safety snapshot of the home as it is, the home emptied and written
 * back, the VM started again if it ran. With `toNewHome`: a new kept home of the same owner
 * receives the files and the current home is left alone.
 */
export async function restoreHome(
  ctx: Berth,
  ref: string,
  snapshotId: string,
  options: { toNewHome?: boolean; actor?: Actor } = {},
): Promise<RestoreResult> {
  const state = await ctx.store.read();
  const home = homeFor(state, ref);
  const access = await repositoryAccess(ctx);
  return exclusive(ctx, async () => {
    const snapshot = await snapshotOf(ctx, home, snapshotId);
    const bytes = await restoreSize(ctx, access, snapshot);
    const target = options.toNewHome ? await newHomeFor(ctx, home) : home;
    const tooBig = (room: number) =>
      new BerthError(
        'RESTORE_TOO_BIG',
        `Snapshot ${snapshot.id} holds ${bytes} bytes; home ${target.id} has room for about ${room}. Nothing was changed.`,
        'Give the plan a larger --disk (berth plan set PLAN --disk SIZE) and rebuild the VM, then restore again.',
      );
    // The quota first; the filesystem's own room again in the restore's container, before it empties the home.
    if (target.diskBytes && bytes > target.diskBytes) {
      if (target !== home) await discardNewHome(ctx, target);
      throw tooBig(target.diskBytes);
    }
    if (target.diskBytes) {
      const room = await homeRoom(ctx, access, target);
      if (bytes > room) {
        if (target !== home) await discardNewHome(ctx, target);
        throw tooBig(room);
      }
    }
    const { runtime, vm, running } = await whereIs(ctx, target);
    let safety: string | null = null;
    if (target === home) {
      if (vm && running) await stopVm(ctx, vmRef(vm), options.actor, 'restore');
      safety = (await snapshotHome(ctx, access, home, 'safety')).snapshot;
    }
    const cfg = effectiveConfig((await ctx.store.snapshot()).config);
    try {
      await withDeadline(cfg['backup.deadline'] * 1000, `restore home ${target.id}`, (signal) =>
        resticOn(ctx, access, {
          runtime,
          args: ['restore', snapshot.longId, '--target', '/'],
          home: { volume: target.volume, readOnly: false, empty: true },
          caps: WRITE_CAPS,
          locked: true,
          signal,
          what: `Restoring snapshot ${snapshot.id} into home ${target.id}`,
        }),
      );
    } finally {
      if (vm && running && target === home) await startVm(ctx, vmRef(vm), options.actor);
    }
    return { home: home.id, snapshot: snapshot.id, safety, into: target.id, bytes, restarted: Boolean(vm && running && target === home) };
  });
}

/** A new kept home beside `home` (same owner, node and quota), its storage made: the target of --to-new-home. */
async function newHomeFor(ctx: Berth, home: Home): Promise<Home> {
  const { newHomeLike } = await import('./new-home.js');
  return newHomeLike(ctx, home);
}

async function discardNewHome(ctx: Berth, home: Home): Promise<void> {
  const { deleteHome } = await import('../vm/homes.js');
  await deleteHome(ctx, home.id).catch(() => undefined);
}

/** `restic forget --prune` of one home's snapshots by its plan's retention (or `keep`). */
export async function forgetHome(ctx: Berth, home: Home, keep?: string): Promise<{ removed: number }> {
  const state = await ctx.store.snapshot();
  const owner = state.users.find((u) => u.id === home.owner);
  const plan = owner ? state.plans.find((p) => p.name === owner.plan) : undefined;
  const access = await repositoryAccess(ctx);
  const before = (await listSnapshots(ctx, { home: home.id })).length;
  await exclusive(ctx, () =>
    resticOn(ctx, access, {
      args: [
        'forget',
        ...idsOf(home).flatMap((id) => ['--tag', homeTag(id)]),
        '--group-by',
        'paths',
        ...keepFlags(keep ?? plan?.backupKeep ?? DEFAULT_KEEP),
        '--prune',
      ],
      caps: [],
      locked: true,
      what: `Forgetting old snapshots of home ${home.id}`,
    }),
  );
  const after = (await listSnapshots(ctx, { home: home.id })).length;
  return { removed: before - after };
}

/** A snapshot of `home` as a tar archive, streamed into `out` (nothing large held in memory). */
export async function dumpSnapshot(ctx: Berth, home: Home, snapshotId: string, out: Writable, signal?: AbortSignal): Promise<SnapshotView> {
  const snapshot = await snapshotOf(ctx, home, snapshotId);
  const access = await repositoryAccess(ctx);
  await resticOn(ctx, access, {
    args: ['dump', '--no-lock', '--archive', 'tar', snapshot.longId, '/data'],
    caps: [],
    stdout: out,
    ...(signal ? { signal } : {}),
    what: `Reading snapshot ${snapshot.id}`,
  });
  return snapshot;
}

export interface BackupStatus {
  repository: string;
  initialised: boolean;
  /** The repository's size on its storage (after deduplication and compression). */
  bytes: number | null;
  snapshots: number;
  homes: Array<{ home: string; login: string; vm: string; schedule: string; snapshots: number; last: string | null }>;
}

/** `berth backup status`: the repository, its size, and each home's snapshots and last one. */
export async function backupStatus(ctx: Berth): Promise<BackupStatus> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const repository = describeRepository(repositoryOf(ctx.store.home, cfg));
  let access: RepositoryAccess;
  try {
    access = await repositoryAccess(ctx);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'BACKUP_NO_REPOSITORY')
      return { repository, initialised: false, bytes: null, snapshots: 0, homes: [] };
    throw err;
  }
  const snapshots = await listSnapshots(ctx);
  const stats = await resticOn(ctx, access, {
    args: ['stats', '--json', '--no-lock', '--mode', 'raw-data'],
    caps: [],
    what: 'Measuring the repository',
  });
  const bytes = Number((JSON.parse(stats || '{}') as { total_size?: number }).total_size ?? 0);
  const homes = state.homes.map((h) => {
    const mine = snapshots.filter((s) => s.home === h.id);
    const owner = state.users.find((u) => u.id === h.owner);
    const plan = owner ? state.plans.find((p) => p.name === owner.plan) : undefined;
    return { home: h.id, login: h.login, vm: h.vm, schedule: plan?.backup ?? 'off', snapshots: mine.length, last: mine[0]?.time ?? null };
  });
  return { repository, initialised: true, bytes, snapshots: snapshots.length, homes };
}

/** `restic check`: the repository's structure (and, with `readData`, every pack's contents). */
export async function checkRepository(ctx: Berth, options: { readData?: boolean } = {}): Promise<{ ok: true; output: string }> {
  const access = await repositoryAccess(ctx);
  const output = await exclusive(ctx, () =>
    resticOn(ctx, access, {
      args: ['check', ...(options.readData ? ['--read-data'] : [])],
      caps: [],
      locked: true,
      what: 'Checking the repository',
    }),
  );
  return { ok: true, output: output.trim().split('\n').slice(-3).join('\n') };
}
