import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Actor } from '../../domain/actor.js';
import { BerthError } from '../../errors.js';
import type { Home, State, User, Vm } from '../../state/schema.js';
import { formatDuration } from '../../values/durations.js';
import type { Berth } from '../core/context.js';
import {
  type BackupResult,
  backupHome,
  checkSnapshotId,
  listSnapshots,
  type RestoreResult,
  restoreHome,
  type SnapshotView,
} from './backups.js';

/**
 * A person's own backups (chat's /backups, /backup, /restore and the download link), where their
 * plan allows it (plan set --backup-self). The home is always chosen by the person's user id: the
 * home their own VM mounts, owned by them; a snapshot is theirs only when it is of that home and
 * was taken while it was theirs (its user tag). Another person's snapshot gets the answer of one
 * that does not exist.
 */

/** Backups a person may take from chat per hour (BACKUP_RATE past it). */
export const SELF_BACKUPS_PER_HOUR = 3;

/** The person (by id, as `state` has them now), allowed, their plan letting them manage their own backups; else BACKUPS_NOT_OFFERED. */
export function checkSelfBackups(state: State, userId: string): User {
  const user = state.users.find((u) => u.id === userId && u.status === 'allowed');
  const plan = user ? state.plans.find((p) => p.name === user.plan) : undefined;
  if (!user || !plan?.backupSelf)
    throw new BerthError(
      'BACKUPS_NOT_OFFERED',
      'Managing your own backups is not offered on your plan.',
      `The operator can allow it: berth plan set ${plan?.name ?? 'PLAN'} --backup-self`,
    );
  return user;
}

/** The home `vm` (one of the person's VMs, as `state` has it now) mounts, owned by the person; never anyone else's. */
export function ownHome(state: State, user: User, vm: Vm): Home {
  const now = state.vms.find((v) => v.id === vm.id && v.user === user.login);
  const home = now ? state.homes.find((h) => h.id === now.home && h.owner === user.id) : undefined;
  if (!home)
    throw new BerthError(
      'HOME_NOT_FOUND',
      `Your VM ${vm.name} has no home of yours to back up.`,
      'Ask the operator (berth home list shows whose each home is).',
    );
  return home;
}

const notYours = (id: string) =>
  new BerthError('SNAPSHOT_NOT_FOUND', `You have no snapshot ${id.slice(0, 64)}.`, 'Your snapshots: /backups');

/** The person's snapshots of `home` (taken while it was theirs), newest first. */
export async function ownSnapshots(ctx: Berth, user: User, home: Home): Promise<SnapshotView[]> {
  if (home.owner !== user.id) return [];
  return (await listSnapshots(ctx, { home: home.id })).filter((s) => s.home === home.id && s.user === user.id);
}

/** The person's snapshot `id` (8 or 64 hex digits) of `home`; another's, or none, is SNAPSHOT_NOT_FOUND. */
export async function ownSnapshot(ctx: Berth, user: User, home: Home, id: string): Promise<SnapshotView> {
  let wanted: string;
  try {
    wanted = checkSnapshotId(id);
  } catch {
    throw new BerthError('INVALID_SNAPSHOT', `"${id.slice(0, 70)}" is not a snapshot id.`, 'Your snapshots, each with its id: /backups');
  }
  const found = (await ownSnapshots(ctx, user, home)).find((s) => s.id === wanted || s.longId === wanted);
  if (!found) throw notYours(wanted);
  return found;
}

/**
 * How many backups each person takes from chat: SELF_BACKUPS_PER_HOUR an hour, in the daemon's
 * memory (bounded by rate-limiter-flexible's own expiry).
 */
export class SelfBackupLimit {
  private readonly limiter: RateLimiterMemory;

  constructor(
    readonly perHour = SELF_BACKUPS_PER_HOUR,
    private readonly now: () => number = Date.now,
  ) {
    this.limiter = new RateLimiterMemory({ points: perHour, duration: 3600 });
  }

  /** Takes one of the person's backups of this hour, or BACKUP_RATE saying when the next may be taken. */
  async take(userId: string): Promise<void> {
    try {
      await this.limiter.consume(userId);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const wait = Math.max(60, Math.ceil(err.msBeforeNext / 1000));
      const at = new Date(this.now() + wait * 1000).toISOString();
      throw new BerthError(
        'BACKUP_RATE',
        `You took ${this.perHour} backups within the hour, the most allowed.`,
        `Try again in ${formatDuration(wait)} (after ${at.slice(11, 16)} UTC); your snapshots: /backups`,
      );
    }
  }

  /** Gives back a backup that was not taken (it failed before a snapshot was made). */
  async giveBack(userId: string): Promise<void> {
    await this.limiter.reward(userId, 1).catch(() => undefined);
  }
}

/** /backup: a snapshot of the person's home now (reason `user`), within their hourly allowance. */
export async function backupOwnHome(ctx: Berth, user: User, vm: Vm, limit: SelfBackupLimit): Promise<BackupResult> {
  const state = await ctx.store.read();
  const me = checkSelfBackups(state, user.id);
  const home = ownHome(state, me, vm);
  await limit.take(user.id);
  try {
    return await backupHome(ctx, home.id, { reason: 'user' });
  } catch (err) {
    await limit.giveBack(user.id);
    throw err;
  }
}

/** /restore: the person's home back as their snapshot has it (in place, after a safety snapshot). */
export async function restoreOwnHome(ctx: Berth, user: User, vm: Vm, snapshotId: string, actor: Actor): Promise<RestoreResult> {
  const state = await ctx.store.read();
  const me = checkSelfBackups(state, user.id);
  const home = ownHome(state, me, vm);
  const snapshot = await ownSnapshot(ctx, me, home, snapshotId);
  return restoreHome(ctx, home.id, snapshot.longId, { actor });
}
