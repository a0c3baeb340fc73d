import { type DueHome, dueHomes, retentionDue, type ScheduledHome, scheduledHomes } from '../../domain/backup-schedule.js';
import { BerthError } from '../../errors.js';
import type { State } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import type { BackupResult, SnapshotView } from './backups.js';

/**
 * Scheduled backups, run by the daemon: each tick reads the state, asks the schedule
 * (src/domain/backup-schedule.ts) which homes are due, and backs them up one at a time (never
 * two: a tick that comes while one runs waits for it), each within backup.deadline, then applies
 * the home's retention at most once a day. What happened to each home (last success, duration,
 * bytes added, failures in a row) is kept in memory for the metrics and the admins' notice.
 */

/** Failures in a row after which the admins are told (once, until the home is backed up again). */
export const FAILURES_BEFORE_NOTICE = 2;
/** After a failed retention, how long before it is tried again (after a backup). */
const FORGET_RETRY_MS = 3_600_000;

/** What the runner does to the repository: backupHome, forgetHome, listSnapshots (fakes in tests). */
export interface BackupOps {
  /** `signal`: the runner stopping (the daemon going): the run is ended. */
  backup(homeId: string, signal?: AbortSignal): Promise<BackupResult>;
  forget(homeId: string, keep: string): Promise<{ removed: number }>;
  snapshots(): Promise<SnapshotView[]>;
}

/** One home's record since the daemon started. */
export interface HomeRecord {
  /** Its last snapshot by the schedule's clock (ms): from the repository at start-up, then from the runs. */
  lastSnapshotAt?: number;
  /** Wall-clock time (ms) of its last snapshot (the metrics' last success). */
  lastSuccessAt?: number;
  lastSeconds?: number;
  lastBytesAdded?: number;
  /** Failed attempts in a row (0 after a success). */
  consecutiveFailures: number;
  /** The last failed attempt by the schedule's clock (ms), since the last success. */
  lastFailureAt?: number;
  lastError?: string;
  /** The last retention run by the schedule's clock (ms). */
  lastForgetAt?: number;
  /** Since when its backups have found the repository locked by another restic run (ms). */
  lockedSince?: number;
  /** A failed retention is tried again after a backup from then on (ms), not after every one. */
  forgetRetryAt?: number;
}

/** What the runner reports, for the log and the metrics. */
export type BackupEvent =
  | { kind: 'loaded'; last: ReadonlyMap<string, number> }
  | { kind: 'scheduled'; homes: readonly string[] }
  | { kind: 'no-repository'; message: string }
  | { kind: 'list-failed'; message: string }
  | { kind: 'started'; home: DueHome }
  | { kind: 'backed-up'; home: ScheduledHome; result: BackupResult }
  | { kind: 'busy'; home: ScheduledHome }
  | { kind: 'failed'; home: ScheduledHome; message: string; consecutive: number }
  | { kind: 'forgot'; home: ScheduledHome; removed: number }
  | { kind: 'forget-failed'; home: ScheduledHome; message: string };

/** What the admins are told when a home's backups failed FAILURES_BEFORE_NOTICE times in a row. */
export interface BackupFailureNotice {
  home: string;
  /** The owner's login now. */
  login: string;
  error: string;
  text: string;
}

export interface BackupRunnerOptions {
  ops: BackupOps;
  readState: () => Promise<State>;
  /** The schedule's clock (the daemon's: Date; tests' may run fast). */
  now?: () => Date;
  /** Wall-clock milliseconds (the metrics' times). */
  wallMs?: () => number;
  onEvent?: (event: BackupEvent) => void;
  tellAdmins?: (notice: BackupFailureNotice) => Promise<void>;
}

/** An error as one line for people: the message and, for berth's own errors, the hint (restic's last lines, no Go trace). */
export function describeFailure(err: unknown): string {
  const hint = err instanceof BerthError ? err.hint.split('\n').filter((l) => !GO_TRACE.test(l.trim())) : [];
  const text = [(err as Error)?.message ?? String(err), ...hint].join(' ');
  return text.replace(/\s+/g, ' ').trim().slice(0, 500);
}

/** Lines of a Go stack trace (restic prints one with some errors): of no use to an admin. */
const GO_TRACE = /\.go:\d+|^(runtime|main)\.|^goroutine |^github\.com\/|^\S+\(0x[0-9a-f]/;

const isCode = (err: unknown, code: string) => err instanceof BerthError && err.code === code;

/** How long a repository locked by another restic run holds backups back before they count as failed. */
const LOCKED_GRACE_MS = 30 * 60_000;

/** restic refused because another run holds the repository's lock (exclusively: a check, a prune). */
const lockedByAnother = (err: unknown) => err instanceof BerthError && /already locked/i.test(`${err.message}\n${err.hint}`);

export class BackupRunner {
  private readonly records = new Map<string, HomeRecord>();
  private loaded = false;
  /** The last failure of the first listing that was reported. */
  private listingTold: string | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** Aborted when the runner stops: a backup running is ended. */
  private readonly leaving = new AbortController();
  /** The home being backed up now. */
  private backingUp: string | null = null;
  private readonly now: () => Date;
  private readonly wallMs: () => number;

  constructor(private readonly options: BackupRunnerOptions) {
    this.now = options.now ?? (() => new Date());
    this.wallMs = options.wallMs ?? Date.now;
  }

  /** Each home's record (a copy). */
  homes(): Map<string, HomeRecord> {
    return new Map([...this.records].map(([k, v]) => [k, { ...v }]));
  }

  /** The home being backed up now, if any. */
  current(): string | null {
    return this.backingUp;
  }

  /** Runs the homes due now, one at a time; a tick while one runs returns that run (never two at once). */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.runDue().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** No new backup starts; the one running (if any) is waited for up to `waitMs`. */
  async stop(waitMs = 10_000): Promise<void> {
    this.stopped = true;
    // A backup running is ended (its restic container killed, its VM let go), not left behind.
    this.leaving.abort();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  private emit(event: BackupEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // The log and the metrics never stop a backup.
    }
  }

  private record(home: string): HomeRecord {
    let r = this.records.get(home);
    if (!r) {
      r = { consecutiveFailures: 0 };
      this.records.set(home, r);
    }
    return r;
  }

  /** The last snapshot of each home, from the repository (one listing), the first time it answers. */
  private async load(): Promise<boolean> {
    if (this.loaded) return true;
    try {
      const snapshots = await this.options.ops.snapshots();
      const last = new Map<string, number>();
      for (const s of snapshots) {
        const t = Date.parse(s.time);
        if (Number.isFinite(t) && t > (last.get(s.home) ?? 0)) last.set(s.home, t);
      }
      for (const [home, t] of last) {
        const r = this.record(home);
        if ((r.lastSnapshotAt ?? 0) < t) r.lastSnapshotAt = t;
        if ((r.lastSuccessAt ?? 0) < t) r.lastSuccessAt = t;
      }
      this.loaded = true;
      this.listingTold = null;
      this.emit({ kind: 'loaded', last });
      return true;
    } catch (err) {
      // Each said once until it changes (tried again every tick): a plan backs homes up, and nothing
      // can be until berth backup init, or until the repository answers.
      const message = describeFailure(err);
      const told = this.listingTold;
      this.listingTold = message;
      if (told !== message) this.emit({ kind: isCode(err, 'BACKUP_NO_REPOSITORY') ? 'no-repository' : 'list-failed', message });
      return false;
    }
  }

  private async runDue(): Promise<void> {
    const state = await this.options.readState();
    const homes = scheduledHomes(state);
    // Records of homes deleted (or no longer scheduled) go: the metrics' labels are the homes scheduled.
    const ids = new Set(homes.map((h) => h.home));
    for (const id of this.records.keys()) if (!ids.has(id)) this.records.delete(id);
    this.emit({ kind: 'scheduled', homes: [...ids] });
    if (homes.length === 0 || !(await this.load())) return;
    const window = effectiveConfig(state.config)['backup.window'];
    const last = new Map<string, number>();
    const failed = new Map<string, number>();
    for (const [id, r] of this.records) {
      if (r.lastSnapshotAt !== undefined) last.set(id, r.lastSnapshotAt);
      if (r.lastFailureAt !== undefined) failed.set(id, r.lastFailureAt);
    }
    const due = dueHomes({ homes, window, lastSnapshot: last, lastFailure: failed, now: this.now() });
    for (const home of due) {
      if (this.stopped) return;
      // A long backup before this one: the home may have been deleted or given away meanwhile.
      const now = scheduledHomes(await this.options.readState()).find((h) => h.home === home.home);
      if (!now) continue;
      if ((await this.runOne({ ...now, slot: home.slot })) === 'busy') return;
    }
  }

  private async runOne(home: DueHome): Promise<'ok' | 'failed' | 'busy'> {
    const r = this.record(home.home);
    const startedAt = this.now().getTime();
    this.emit({ kind: 'started', home });
    this.backingUp = home.home;
    try {
      const result = await this.options.ops.backup(home.home, this.leaving.signal);
      r.lastSnapshotAt = startedAt;
      r.lastSuccessAt = this.wallMs();
      r.lastSeconds = result.seconds;
      r.lastBytesAdded = result.bytesAdded;
      r.consecutiveFailures = 0;
      delete r.lockedSince;
      delete r.lastFailureAt;
      delete r.lastError;
      this.emit({ kind: 'backed-up', home, result });
    } catch (err) {
      // A backup or restore started by hand holds berth's lock: not this home's failure; tried next tick.
      if (isCode(err, 'BACKUP_BUSY')) {
        this.emit({ kind: 'busy', home });
        return 'busy';
      }
      // restic's own lock, held by a check or prune from elsewhere (berth doctor, berth backup
      // check): the same, for LOCKED_GRACE_MS; a lock held longer (left by a dead run) is a failure.
      if (lockedByAnother(err)) {
        r.lockedSince ??= startedAt;
        if (this.now().getTime() - r.lockedSince < LOCKED_GRACE_MS) {
          this.emit({ kind: 'busy', home });
          return 'busy';
        }
      }
      delete r.lockedSince;
      r.consecutiveFailures += 1;
      r.lastFailureAt = this.now().getTime();
      r.lastError = describeFailure(err);
      this.emit({ kind: 'failed', home, message: r.lastError, consecutive: r.consecutiveFailures });
      if (r.consecutiveFailures === FAILURES_BEFORE_NOTICE) await this.tellAdmins(home, r.lastError);
      return 'failed';
    } finally {
      this.backingUp = null;
    }
    const now = this.now();
    if (!this.stopped && retentionDue(r.lastForgetAt, now) && (r.forgetRetryAt ?? 0) <= now.getTime()) {
      try {
        const { removed } = await this.options.ops.forget(home.home, home.keep);
        r.lastForgetAt = this.now().getTime();
        delete r.forgetRetryAt;
        this.emit({ kind: 'forgot', home, removed });
      } catch (err) {
        if (isCode(err, 'BACKUP_BUSY')) return 'busy';
        r.forgetRetryAt = this.now().getTime() + FORGET_RETRY_MS;
        this.emit({ kind: 'forget-failed', home, message: describeFailure(err) });
      }
    }
    return 'ok';
  }

  private async tellAdmins(home: ScheduledHome, error: string): Promise<void> {
    const text = `Backups of home ${home.home} (user ${home.login}) failed ${FAILURES_BEFORE_NOTICE} times in a row: ${error} See berth backup status and berth backup check; you are told again only after it has succeeded.`;
    await this.options.tellAdmins?.({ home: home.home, login: home.login, error, text }).catch(() => undefined);
  }
}

/**
 * The schedule's clock and how often it ticks. BERTH_BACKUP_CLOCK_SPEED (a test knob, never for
 * production) makes the clock run that many times fast from the daemon's start, and the ticks come
 * as often: at 3600, an hour of the schedule passes every second.
 */
export function backupClock(env: NodeJS.ProcessEnv = process.env, realNow: () => number = Date.now): { now: () => Date; tickMs: number } {
  const speed = Number(env.BERTH_BACKUP_CLOCK_SPEED);
  if (!Number.isFinite(speed) || speed <= 1) return { now: () => new Date(realNow()), tickMs: 60_000 };
  const start = realNow();
  return { now: () => new Date(start + (realNow() - start) * speed), tickMs: Math.max(250, Math.round(60_000 / speed)) };
}

/**
 * The VM mounting `homeId` let go if it is still frozen: what a daemon that stops during a backup
 * does (the backup lets go itself when it ends, but the daemon will not be there then). Whether it was.
 */
export async function thawHome(ctx: Berth, homeId: string): Promise<boolean> {
  const state = await ctx.store.snapshot();
  const home = state.homes.find((h) => h.id === homeId);
  const vm = home ? state.vms.find((v) => v.home === home.id) : undefined;
  if (!home || !vm) return false;
  const backend = await ctx.backend();
  const container = await backend.containerOf(vm);
  if (!container) return false;
  const runtime = await backend.engineOf({ ...(home.node ? { node: home.node } : {}) });
  if ((await runtime.inspectContainer(container))?.state !== 'paused') return false;
  await runtime.unpauseContainer(container);
  return true;
}

/** The runner's operations on `ctx`'s repository, each within backup.deadline. */
export function repositoryOps(ctx: Berth): BackupOps {
  const deadlineMs = async () => effectiveConfig((await ctx.store.snapshot()).config)['backup.deadline'] * 1000;
  return {
    backup: async (homeId, signal) => {
      const { backupHome } = await import('./backups.js');
      return backupHome(ctx, homeId, { reason: 'schedule', ...(signal ? { signal } : {}) });
    },
    forget: async (homeId, keep) => {
      const { forgetHome } = await import('./backups.js');
      const home = (await ctx.store.snapshot()).homes.find((h) => h.id === homeId);
      if (!home) return { removed: 0 };
      return withDeadline(await deadlineMs(), `forget old snapshots of home ${homeId}`, () => forgetHome(ctx, home, keep));
    },
    snapshots: async () => {
      const { listSnapshots } = await import('./backups.js');
      return withDeadline(await deadlineMs(), 'list the snapshots', () => listSnapshots(ctx));
    },
  };
}
