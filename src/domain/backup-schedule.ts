import type { State } from '../state/schema.js';
import { type BackupSchedule, DEFAULT_KEEP } from '../values/backup.js';

/**
 * When each home is backed up: a pure function of the state, config backup.window, the last
 * snapshot of each home and the time (a clock the caller passes in). Daily homes run once a day,
 * each at its own moment within the window; hourly homes once an hour, each at its own second of
 * the hour. The moment is a stable hash of the home's id, so the homes are spread out, never all
 * at once, and a home keeps its moment from one day to the next.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A home the schedule looks after: its owner's plan backs it up. */
export interface ScheduledHome {
  home: string;
  /** The owner's user id and login (a home's login is shown to people, the id used in tags). */
  owner: string;
  login: string;
  schedule: Exclude<BackupSchedule, 'off'>;
  /** The plan's retention (parseKeep's form), DEFAULT_KEEP when the plan does not say. */
  keep: string;
  createdAt: string;
}

/**
 * The homes whose owner's plan has a backup schedule, in the state's order. A kept home whose VM
 * was removed still follows its owner's plan; a home with no owner (removed with --keep-homes) or
 * whose owner's plan is gone or says off is not backed up.
 */
export function scheduledHomes(state: Pick<State, 'homes' | 'users' | 'plans'>): ScheduledHome[] {
  const users = new Map(state.users.map((u) => [u.id, u]));
  const plans = new Map(state.plans.map((p) => [p.name, p]));
  return state.homes.flatMap((h) => {
    const owner = h.owner ? users.get(h.owner) : undefined;
    const plan = owner ? plans.get(owner.plan) : undefined;
    if (!owner || !plan?.backup || plan.backup === 'off') return [];
    return [
      {
        home: h.id,
        owner: owner.id,
        login: owner.login,
        schedule: plan.backup,
        keep: plan.backupKeep ?? DEFAULT_KEEP,
        createdAt: h.createdAt,
      },
    ];
  });
}

/** config backup.window (`HH-HH`, host time; may wrap past midnight, `to` may be 24) as hours. */
export function parseBackupWindow(window: string): { from: number; to: number; hours: number } {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(window.trim());
  const from = Number(m?.[1] ?? 1);
  const to = Number(m?.[2] ?? 5);
  const hours = to > from ? to - from : to + 24 - from;
  return { from, to, hours };
}

/** A stable hash of a home's id (FNV-1a, 32 bits) reduced to [0, span). */
export function homeOffset(homeId: string, span: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < homeId.length; i++) {
    h ^= homeId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % span;
}

/**
 * The latest moment at or before `now` that `home` is to be backed up, or null (daily: outside
 * the window, or within it before the home's moment). Daily moments are in host time, counted
 * from the window's start; hourly ones at a second of the hour.
 */
export function currentSlot(schedule: ScheduledHome['schedule'], homeId: string, window: string, now: Date): Date | null {
  if (schedule === 'hourly') {
    const offset = homeOffset(homeId, 3600) * 1000;
    const hourStart = Math.floor(now.getTime() / HOUR) * HOUR;
    const slot = hourStart + offset;
    return new Date(slot <= now.getTime() ? slot : slot - HOUR);
  }
  const w = parseBackupWindow(window);
  const offsetMinutes = homeOffset(homeId, w.hours * 60);
  // The window that began today, or the one that began yesterday and runs past midnight.
  for (const daysBack of [0, 1]) {
    const y = now.getFullYear();
    const mo = now.getMonth();
    const d = now.getDate() - daysBack;
    const start = new Date(y, mo, d, w.from, 0, 0, 0);
    if (start.getTime() > now.getTime()) continue;
    const end = new Date(y, mo, d, w.from + w.hours, 0, 0, 0);
    if (now.getTime() >= end.getTime()) return null;
    const slot = new Date(y, mo, d, w.from, offsetMinutes, 0, 0);
    return slot.getTime() <= now.getTime() ? slot : null;
  }
  return null;
}

/** How long after a failed attempt the home is tried again (the window stays open meanwhile). */
export const RETRY_AFTER_MS: Record<ScheduledHome['schedule'], number> = { hourly: 10 * MINUTE, daily: 30 * MINUTE };

/** The time between two scheduled backups of a home. */
export const SCHEDULE_INTERVAL_MS: Record<ScheduledHome['schedule'], number> = { hourly: HOUR, daily: DAY };

export interface DueInput {
  homes: readonly ScheduledHome[];
  /** config backup.window. */
  window: string;
  /** Each home's last snapshot (ms since the epoch); a home missing here has none. */
  lastSnapshot: ReadonlyMap<string, number>;
  /** Each home's last failed attempt since its last snapshot (ms). */
  lastFailure?: ReadonlyMap<string, number>;
  now: Date;
}

export interface DueHome extends ScheduledHome {
  /** The moment it was due. */
  slot: Date;
}

/**
 * The homes due now: their moment has come and they have no snapshot since it (nor a failure
 * within RETRY_AFTER_MS). Those due longest first.
 */
export function dueHomes(input: DueInput): DueHome[] {
  const now = input.now.getTime();
  const due: DueHome[] = [];
  for (const h of input.homes) {
    const slot = currentSlot(h.schedule, h.home, input.window, input.now);
    if (!slot) continue;
    const last = input.lastSnapshot.get(h.home);
    if (last !== undefined && last >= slot.getTime()) continue;
    const failed = input.lastFailure?.get(h.home);
    if (failed !== undefined && failed >= slot.getTime() && now - failed < RETRY_AFTER_MS[h.schedule]) continue;
    due.push({ ...h, slot });
  }
  return due.sort((a, b) => a.slot.getTime() - b.slot.getTime());
}

/** Whether a home's retention (forget) is to run: at most once a day, after a backup. */
export function retentionDue(lastForget: number | undefined, now: Date): boolean {
  return lastForget === undefined || now.getTime() - lastForget >= DAY;
}

export interface OverdueHome {
  home: ScheduledHome;
  /** Its last snapshot (ms), or null when it has none. */
  last: number | null;
}

/**
 * Homes whose last snapshot is older than twice their schedule's interval (one never backed up:
 * when the home is that old). What `berth doctor` warns of.
 */
export function overdueHomes(homes: readonly ScheduledHome[], lastSnapshot: ReadonlyMap<string, number>, now: Date): OverdueHome[] {
  return homes.flatMap((h) => {
    const last = lastSnapshot.get(h.home);
    const since = last ?? Date.parse(h.createdAt);
    return now.getTime() - since > 2 * SCHEDULE_INTERVAL_MS[h.schedule] ? [{ home: h, last: last ?? null }] : [];
  });
}
