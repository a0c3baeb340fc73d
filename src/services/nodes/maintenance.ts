import { Cron } from 'croner';
import { OPERATOR } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import { maintenanceWindow } from '../../domain/maintenance-window.js';
import { BerthError, invalidInput } from '../../errors.js';
import { MAINTENANCE_OFF } from '../../state/migrations.js';
import type { Maintenance, Schedule, State } from '../../state/schema.js';
import { formatDuration, parseDuration, utcMinute } from '../../values/durations.js';
import { printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';
import { type BulkFailure, type BulkProgress, bulkConcurrency, ENGINE_STEP, inParallel, startVms } from '../vm/vm-bulk.js';
import { logVmEvent } from '../vm/vm-event-log.js';

export interface MaintenanceResult {
  maintenance: Maintenance;
  /** VMs stopped (on) or started again (off) by this call. */
  changed: string[];
  /** VMs that could not be stopped or started, with why; the others were. */
  failed: BulkFailure[];
}

const iso = (d: Date) => d.toISOString();

/**
 * Turns maintenance on: stops every running VM, remembering which, and blocks
 * create/start for everyone but admins who force it. Already on: nothing changes.
 */
export async function enterMaintenance(
  ctx: Berth,
  options: { reason?: string; until?: Date; source?: 'operator' | 'schedule'; window?: string; onProgress?: BulkProgress } = {},
): Promise<MaintenanceResult> {
  const reason = checkReason(options.reason ?? '');
  const claimed = await ctx.store.transact((state) => {
    if (state.maintenance.on) return null;
    state.maintenance = {
      on: true,
      reason,
      since: iso(new Date()),
      until: options.until ? iso(options.until) : null,
      source: options.source ?? 'operator',
      window: options.window ?? null,
      stoppedVms: [],
    };
    const running = state.vms.filter((vm) => vm.phase === 'ready' && vm.containerId && vm.desired === 'running');
    // Recorded before the stops, so that their `die` events read as berth's doing.
    for (const vm of running) Object.assign(vm, { desired: 'stopped', stopReason: 'maintenance' });
    return running.map((vm) => ({ ...vm }));
  });
  if (!claimed) return { maintenance: (await ctx.store.read()).maintenance, changed: [], failed: [] };
  const backend = await ctx.backend();
  // `bulk.concurrency` stops at a time; one that fails is told, the others go on.
  const outcome = await inParallel(claimed, vmRef, (vm, signal) => backend.stop(vm, signal), {
    concurrency: await bulkConcurrency(ctx),
    onProgress: options.onProgress,
    deadline: ENGINE_STEP.stop,
  });
  const stopped = new Set(outcome.done.map(vmRef));
  const failed = outcome.failed.map((f) => f.failure);
  const failedRefs = new Set(failed.map((f) => f.vm));
  const maintenance = await ctx.store.transact((state) => {
    const at = iso(new Date());
    for (const vm of state.vms) {
      if (stopped.has(vmRef(vm))) {
        vm.lastStoppedAt = at;
        logVmEvent(state, vm, 'maintenance-stop', reason ? `maintenance: ${reason}` : 'maintenance');
      } else if (failedRefs.has(vmRef(vm)) && vm.stopReason === 'maintenance') {
        vm.desired = 'running';
        delete vm.stopReason;
      }
    }
    if (state.maintenance.on) state.maintenance.stoppedVms = [...new Set([...state.maintenance.stoppedVms, ...stopped])].sort();
    return state.maintenance;
  });
  await ctx.notifier.send({
    kind: 'maintenance-start',
    to: 'all',
    text: `berth is in maintenance${maintenanceWindow(maintenance)}; VMs are stopped meanwhile.`,
  });
  return { maintenance, changed: [...stopped].sort(), failed };
}

/** Turns maintenance off and (unless `restore` is false) starts again the VMs it stopped, `bulk.concurrency` at a time. */
export async function leaveMaintenance(
  ctx: Berth,
  options: { restore?: boolean; window?: string; onProgress?: BulkProgress } = {},
): Promise<MaintenanceResult> {
  const claimed = await ctx.store.transact((state) => {
    const m = state.maintenance;
    if (!m.on || (options.window !== undefined && m.window !== options.window)) return null;
    state.maintenance = { ...MAINTENANCE_OFF, stoppedVms: [] };
    // Only VMs still stopped for maintenance: one an operator started or destroyed meanwhile is left alone.
    const stopped = new Set(m.stoppedVms);
    return state.vms.filter((vm) => stopped.has(vmRef(vm)) && vm.desired === 'stopped' && vm.stopReason === 'maintenance').map(vmRef);
  });
  if (!claimed) return { maintenance: (await ctx.store.read()).maintenance, changed: [], failed: [] };
  const result = options.restore !== false ? await startVms(ctx, claimed, OPERATOR, { onProgress: options.onProgress }) : null;
  await ctx.notifier.send({ kind: 'maintenance-end', to: 'all', text: 'Maintenance is over; VMs can be started again.' });
  return { maintenance: (await ctx.store.read()).maintenance, changed: result?.changed ?? [], failed: result?.failed ?? [] };
}

function checkReason(reason: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (reason.length > 200 || /[\u0000-\u001f\u007f]/.test(reason)) {
    throw invalidInput('INVALID_REASON', 'The reason is too long or holds control characters.', 'Use one line of at most 200 characters.');
  }
  return reason;
}

// --- schedules ---

function cronFor(schedule: Pick<Schedule, 'cron' | 'tz'>): Cron {
  return new Cron(schedule.cron, { timezone: schedule.tz, paused: true });
}

export function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export interface ScheduleView {
  id: string;
  cron: string;
  tz: string;
  duration: string;
  notify: string;
  reason: string;
  nextStart: string | null;
}

function scheduleView(s: Schedule, now = new Date()): ScheduleView {
  const next = cronFor(s).nextRun(now);
  return {
    id: s.id,
    cron: s.cron,
    tz: s.tz,
    duration: formatDuration(s.durationSeconds),
    notify: formatDuration(s.notifySeconds),
    reason: s.reason,
    nextStart: next ? iso(next) : null,
  };
}

export async function addSchedule(
  ctx: Berth,
  input: { cron: string; duration: string; notify?: string; reason?: string; tz?: string },
): Promise<ScheduleView> {
  const tz = input.tz ?? hostTimeZone();
  try {
    if (input.cron.length > 100) throw new Error('too long');
    const cron = cronFor({ cron: input.cron, tz });
    if (!cron.nextRun()) throw new Error('it never fires');
  } catch (err) {
    throw invalidInput(
      'INVALID_SCHEDULE',
      `"${printable(input.cron)}" in time zone ${printable(tz)} is not a usable schedule (${(err as Error).message}).`,
      'Write a cron pattern such as "0 3 * * 0" (Sundays 03:00) and an IANA time zone such as Europe/Paris.',
    );
  }
  const durationSeconds = parseDuration(input.duration, 'duration');
  if (durationSeconds === 0) throw invalidInput('INVALID_DURATION', 'A maintenance window needs a duration.', 'Pass --duration, e.g. 2h.');
  const notifySeconds = input.notify === undefined ? 0 : parseDuration(input.notify, 'notice');
  const reason = checkReason(input.reason ?? '');
  const schedule = await ctx.store.transact((state) => {
    const n = Math.max(0, ...state.schedules.map((s) => Number(s.id.slice(1)))) + 1;
    const s: Schedule = {
      id: `w${n}`,
      cron: input.cron,
      tz,
      durationSeconds,
      notifySeconds,
      reason,
      createdAt: iso(new Date()),
      notifiedFor: null,
      enteredFor: null,
    };
    state.schedules.push(s);
    return s;
  });
  return scheduleView(schedule);
}

export async function listSchedules(ctx: Berth): Promise<ScheduleView[]> {
  return (await ctx.store.read()).schedules.map((s) => scheduleView(s));
}

export async function removeSchedule(ctx: Berth, id: string): Promise<ScheduleView> {
  return ctx.store.transact((state) => {
    const found = state.schedules.find((s) => s.id === id);
    if (!found) {
      throw new BerthError(
        'SCHEDULE_NOT_FOUND',
        `There is no maintenance window "${printable(id)}".`,
        'See them with: berth maintenance schedule list',
      );
    }
    state.schedules = state.schedules.filter((s) => s !== found);
    return scheduleView(found);
  });
}

export interface MaintenanceStatus extends Maintenance {
  schedules: ScheduleView[];
}

export async function maintenanceStatus(ctx: Berth): Promise<MaintenanceStatus> {
  const state = await ctx.store.read();
  return { ...state.maintenance, schedules: state.schedules.map((s) => scheduleView(s)) };
}

// --- the tick: what is due now, done once whoever runs it (daemon or cron) ---

type Due =
  | { kind: 'notify'; schedule: Schedule; start: Date }
  | { kind: 'enter'; schedule: Schedule; end: Date }
  | { kind: 'leave'; window: string | null };

function occurrences(s: Schedule, now: Date): { current: Date | null; next: Date | null } {
  const cron = cronFor(s);
  // croner leaves out a run in the very second asked about: ask from a second later.
  const previous = cron.previousRuns(2, new Date(now.getTime() + 1000)).find((d) => d.getTime() <= now.getTime()) ?? null;
  const current = previous && now.getTime() < previous.getTime() + s.durationSeconds * 1000 ? previous : null;
  return { current, next: cron.nextRun(now) };
}

/**
 * Claims in one transaction what is due, so that a second tick (or the daemon) finds
 * nothing left: each occurrence is announced and entered once. Leaving is read from
 * the maintenance record alone, so a window ends even if its schedule was removed,
 * and a leave that failed is tried again at the next tick.
 */
function claimDue(state: State, now: Date): Due[] {
  const due: Due[] = [];
  const m = state.maintenance;
  for (const s of state.schedules) {
    const { current, next } = occurrences(s, now);
    if (current && s.enteredFor !== iso(current)) {
      s.enteredFor = iso(current);
      const end = new Date(current.getTime() + s.durationSeconds * 1000);
      if (!m.on) due.push({ kind: 'enter', schedule: s, end });
      else if (m.source === 'schedule' && m.until && end > new Date(m.until)) {
        // Windows that overlap make one maintenance lasting until the later end.
        m.until = iso(end);
        m.window = s.id;
      }
    }
    if (next && s.notifySeconds > 0 && next.getTime() - now.getTime() <= s.notifySeconds * 1000 && s.notifiedFor !== iso(next)) {
      s.notifiedFor = iso(next);
      due.push({ kind: 'notify', schedule: s, start: next });
    }
  }
  if (m.on && m.source === 'schedule' && m.until && now >= new Date(m.until)) due.push({ kind: 'leave', window: m.window });
  return due;
}

async function doDue(ctx: Berth, item: Due): Promise<string> {
  if (item.kind === 'notify') {
    const s = item.schedule;
    const text = `Maintenance${s.reason ? ` (${s.reason})` : ''} starts ${utcMinute(item.start.toISOString())} for ${formatDuration(s.durationSeconds)}; running VMs will be stopped.`;
    await ctx.notifier.send({ kind: 'maintenance-soon', to: 'all', text });
    return `announced window ${s.id} starting ${iso(item.start)}`;
  }
  if (item.kind === 'enter') {
    const s = item.schedule;
    const result = await enterMaintenance(ctx, { reason: s.reason, until: item.end, source: 'schedule', window: s.id });
    return `entered window ${s.id} until ${iso(item.end)} (stopped ${result.changed.length} VM(s))`;
  }
  const result = await leaveMaintenance(ctx, item.window === null ? {} : { window: item.window });
  return `left window ${item.window ?? '?'} (started ${result.changed.length} VM(s))`;
}

/** Does whatever maintenance work is due at `now`; safe to run every minute from cron, and idempotent. */
export async function maintenanceTick(ctx: Berth, now = new Date()): Promise<string[]> {
  const due = await ctx.store.transact((state) => claimDue(state, now));
  const done: string[] = [];
  for (const item of due) {
    try {
      done.push(await doDue(ctx, item));
    } catch (err) {
      done.push(`failed to ${item.kind}: ${(err as Error).message}`);
    }
  }
  return done;
}

/** When the next tick has work: for the daemon's timer. */
export function nextDue(state: State, now = new Date()): Date | null {
  const times: number[] = [];
  for (const s of state.schedules) {
    const { current, next } = occurrences(s, now);
    // A window under way that nobody has entered yet (the daemon was down, or woke a hair early).
    if (current && s.enteredFor !== iso(current)) times.push(now.getTime());
    if (next) {
      times.push(next.getTime());
      if (s.notifySeconds > 0 && s.notifiedFor !== iso(next)) times.push(Math.max(now.getTime(), next.getTime() - s.notifySeconds * 1000));
    }
  }
  if (state.maintenance.on && state.maintenance.until) times.push(new Date(state.maintenance.until).getTime());
  const future = times.filter((t) => t >= now.getTime());
  return future.length ? new Date(Math.min(...future)) : null;
}
