import { overdueHomes, scheduledHomes } from '../../domain/backup-schedule.js';
import { BerthError } from '../../errors.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { checkRepository, listSnapshots } from './backups.js';
import { describeRepository, repositoryAccess, repositoryOf } from './repository.js';
import { describeFailure } from './schedule.js';

/** How long `berth doctor` gives restic check (and the listing of snapshots) by default. */
const CHECK_DEADLINE_MS = 120_000;

/** What `berth doctor` says of backups. */
export interface BackupsCheck {
  repository: string;
  initialised: boolean;
  /** Plans with a backup schedule, as `NAME (daily)`. */
  plansBackingUp: string[];
  /** restic check, when the repository is initialised: sound or not, and its last lines or the error. */
  check: { ok: boolean; detail: string } | null;
  /** Homes whose last snapshot is older than twice their schedule. */
  overdue: Array<{ home: string; login: string; schedule: string; last: string | null }>;
  /** Each warning, with its fix. */
  warnings: string[];
  /** What makes doctor exit 1: a repository that fails its check. */
  failures: string[];
}

/**
 * The backups part of `berth doctor`: is the repository there (a warning when a plan backs homes
 * up and there is none), does `restic check` pass (within `deadlineMs`; a failing check is a
 * failure), and which scheduled homes have gone without a snapshot for twice their schedule.
 */
export async function checkBackups(ctx: Berth, options: { deadlineMs?: number; now?: Date } = {}): Promise<BackupsCheck> {
  const deadlineMs = options.deadlineMs ?? CHECK_DEADLINE_MS;
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const repository = describeRepository(repositoryOf(ctx.store.home, cfg));
  const plansBackingUp = state.plans.filter((p) => p.backup && p.backup !== 'off').map((p) => `${p.name} (${p.backup})`);
  const homes = scheduledHomes(state);
  const report: BackupsCheck = { repository, initialised: false, plansBackingUp, check: null, overdue: [], warnings: [], failures: [] };
  try {
    await repositoryAccess(ctx);
  } catch (err) {
    if (!(err instanceof BerthError && err.code === 'BACKUP_NO_REPOSITORY')) {
      report.failures.push(`the backup repository ${repository} cannot be opened: ${describeFailure(err)}`);
      return report;
    }
    if (plansBackingUp.length)
      report.warnings.push(
        `plan(s) ${plansBackingUp.join(', ')} back homes up, but the backup repository ${repository} is not initialised, so nothing is backed up: berth backup init`,
      );
    return report;
  }
  report.initialised = true;
  try {
    const { output } = await withDeadline(deadlineMs, 'check the backup repository', () => checkRepository(ctx));
    report.check = { ok: true, detail: output.split('\n').at(-1) ?? '' };
  } catch (err) {
    const detail = describeFailure(err);
    report.check = { ok: false, detail };
    // Another run holds the host's backup lock or restic's own (a backup by the daemon): not a fault of the repository.
    const busy = err instanceof BerthError && err.code === 'BACKUP_BUSY';
    if (busy || /locked/i.test(detail))
      report.warnings.push(`the backup repository could not be checked now (in use): ${detail}; run berth doctor again later`);
    else report.failures.push(`the backup repository ${repository} fails restic check: ${detail}; see berth backup check`);
  }
  if (homes.length === 0) return report;
  try {
    const last = new Map<string, number>();
    for (const s of await withDeadline(deadlineMs, 'list the snapshots', () => listSnapshots(ctx))) {
      const t = Date.parse(s.time);
      if (t > (last.get(s.home) ?? 0)) last.set(s.home, t);
    }
    report.overdue = overdueHomes(homes, last, options.now ?? new Date()).map((o) => ({
      home: o.home.home,
      login: o.home.login,
      schedule: o.home.schedule,
      last: o.last === null ? null : new Date(o.last).toISOString(),
    }));
    for (const o of report.overdue)
      report.warnings.push(
        `home ${o.home} (${o.login}, ${o.schedule}) has ${o.last ? `had no snapshot since ${o.last}` : 'never been backed up'}: is the daemon running (berth daemon status)? see its log and berth backup status`,
      );
  } catch (err) {
    report.warnings.push(`the snapshots could not be listed: ${describeFailure(err)}`);
  }
  return report;
}
