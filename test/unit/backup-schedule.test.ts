import { describe, expect, it } from 'vitest';
import {
  currentSlot,
  dueHomes,
  homeOffset,
  overdueHomes,
  parseBackupWindow,
  RETRY_AFTER_MS,
  retentionDue,
  type ScheduledHome,
  scheduledHomes,
} from '../../src/domain/backup-schedule.js';
import type { State } from '../../src/state/schema.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A time in the host's zone (the window is in host time): day of January 2030, hour, minute. */
const local = (day: number, hour: number, minute = 0, second = 0) => new Date(2030, 0, day, hour, minute, second);

const home = (id: string, schedule: 'daily' | 'hourly', createdAt = '2029-01-01T00:00:00.000Z'): ScheduledHome => ({
  home: id,
  owner: 'a00000000001',
  login: 'alice',
  schedule,
  keep: '7d,4w',
  createdAt,
});

/** A home id whose daily moment within a `hours`-long window is `minutes` after its start. */
function idAt(minutes: number, hours: number): string {
  for (let i = 0; i < 1_000_000; i++) {
    const id = i.toString(16).padStart(12, '0');
    if (homeOffset(id, hours * 60) === minutes) return id;
  }
  throw new Error('no id found');
}

describe('the backup window', () => {
  it.each([
    ['01-05', { from: 1, to: 5, hours: 4 }],
    ['22-04', { from: 22, to: 4, hours: 6 }],
    ['00-24', { from: 0, to: 24, hours: 24 }],
    ['23-00', { from: 23, to: 0, hours: 1 }],
    ['05-01', { from: 5, to: 1, hours: 20 }],
  ])('%s spans its hours', (window, expected) => {
    expect(parseBackupWindow(window)).toEqual(expected);
  });
});

describe('each home at its own moment', () => {
  it('is spread by the home id: stable, within range, and not every home at once', () => {
    const ids = Array.from({ length: 200 }, (_, i) => (0xabc000000000 + i * 7919).toString(16).slice(0, 12));
    const offsets = ids.map((id) => homeOffset(id, 240));
    expect(offsets.every((o) => o >= 0 && o < 240)).toBe(true);
    expect(new Set(offsets).size).toBeGreaterThan(100);
    expect(ids.map((id) => homeOffset(id, 240))).toEqual(offsets);
  });

  it('hourly: once an hour at the same second of the hour', () => {
    const id = 'b00000000007';
    const second = homeOffset(id, 3600);
    const hourStart = Math.floor(local(7, 10).getTime() / HOUR) * HOUR;
    const at = (ms: number) => currentSlot('hourly', id, '01-05', new Date(ms))?.getTime();
    expect(at(hourStart + second * 1000)).toBe(hourStart + second * 1000);
    expect(at(hourStart + second * 1000 + 59 * MINUTE)).toBe(hourStart + second * 1000);
    if (second > 0) expect(at(hourStart + second * 1000 - 1)).toBe(hourStart + second * 1000 - HOUR);
    expect(at(hourStart + HOUR + second * 1000)).toBe(hourStart + HOUR + second * 1000);
  });

  // [window, home's minutes into the window, now (day, hour, minute), the moment due or null]
  const daily: Array<[string, number, [number, number, number], [number, number, number] | null]> = [
    ['01-05', 70, [7, 0, 59], null], // before the window
    ['01-05', 70, [7, 1, 30], null], // in the window, before the home's moment
    ['01-05', 70, [7, 2, 10], [7, 2, 10]], // its moment
    ['01-05', 70, [7, 4, 59], [7, 2, 10]], // later in the window: still due if not done
    ['01-05', 70, [7, 5, 0], null], // the window closed
    ['01-05', 0, [7, 1, 0], [7, 1, 0]],
    ['01-05', 239, [7, 4, 59], [7, 4, 59]],
    // Past midnight: 22-04, the home at 22:00 + 5h = 03:00 the next day.
    ['22-04', 300, [7, 23, 0], null],
    ['22-04', 300, [8, 3, 0], [8, 3, 0]],
    ['22-04', 300, [8, 3, 59], [8, 3, 0]],
    ['22-04', 300, [8, 4, 0], null],
    ['22-04', 30, [7, 22, 45], [7, 22, 30]],
    ['22-04', 30, [8, 1, 0], [7, 22, 30]], // after midnight, the window that began the day before
    ['22-04', 30, [8, 21, 59], null],
    // The whole day.
    ['00-24', 600, [7, 9, 59], null],
    ['00-24', 600, [7, 10, 0], [7, 10, 0]],
    ['00-24', 600, [7, 23, 59], [7, 10, 0]],
    ['23-00', 59, [7, 23, 59], [7, 23, 59]],
    ['23-00', 59, [8, 0, 0], null],
  ];
  it.each(daily)('daily in %s, a home %i minutes in, at %j: due at %j', (window, minutes, now, expected) => {
    const id = idAt(minutes, parseBackupWindow(window).hours);
    const slot = currentSlot('daily', id, window, local(...now));
    expect(slot?.getTime() ?? null).toBe(expected ? local(...expected).getTime() : null);
  });
});

describe('which homes are due', () => {
  const a = idAt(10, 4); // 01:10 in 01-05
  const b = idAt(100, 4); // 02:40
  const c = 'c00000000003';
  const homes = [home(a, 'daily'), home(b, 'daily'), home(c, 'hourly')];
  const cSlot = (now: Date) => currentSlot('hourly', c, '01-05', now)?.getTime() as number;

  it('takes the homes whose moment has come and that have no snapshot since, longest due first', () => {
    const now = local(7, 3, 0);
    const due = dueHomes({ homes, window: '01-05', lastSnapshot: new Map(), now });
    expect(due.map((d) => d.home).sort()).toEqual([a, b, c].sort());
    expect(due[0]?.home).toBe(a);
    const done = new Map([
      [a, local(7, 1, 11).getTime()],
      [c, cSlot(now) + 1000],
    ]);
    expect(dueHomes({ homes, window: '01-05', lastSnapshot: done, now }).map((d) => d.home)).toEqual([b]);
    // Yesterday's snapshot does not count for today.
    const yesterday = new Map([[b, local(6, 2, 41).getTime()]]);
    expect(dueHomes({ homes: [home(b, 'daily')], window: '01-05', lastSnapshot: yesterday, now })).toHaveLength(1);
  });

  it('waits RETRY_AFTER_MS after a failed attempt, then tries again', () => {
    const now = local(7, 3, 0);
    const failed = new Map([[b, now.getTime() - 5 * MINUTE]]);
    expect(dueHomes({ homes: [home(b, 'daily')], window: '01-05', lastSnapshot: new Map(), lastFailure: failed, now })).toEqual([]);
    const later = new Date(now.getTime() + RETRY_AFTER_MS.daily);
    expect(dueHomes({ homes: [home(b, 'daily')], window: '01-05', lastSnapshot: new Map(), lastFailure: failed, now: later })).toHaveLength(
      1,
    );
    // A failure before this moment (yesterday's) holds nothing back.
    const old = new Map([[b, local(6, 3, 0).getTime()]]);
    expect(dueHomes({ homes: [home(b, 'daily')], window: '01-05', lastSnapshot: new Map(), lastFailure: old, now })).toHaveLength(1);
  });

  it('runs retention at most once a day', () => {
    const now = local(7, 3, 0);
    expect(retentionDue(undefined, now)).toBe(true);
    expect(retentionDue(now.getTime() - 23 * HOUR, now)).toBe(false);
    expect(retentionDue(now.getTime() - 24 * HOUR, now)).toBe(true);
  });
});

describe('the homes the schedule looks after', () => {
  const state = {
    plans: [
      { name: 'saved', backup: 'hourly', backupKeep: '2l' },
      { name: 'daily', backup: 'daily' },
      { name: 'none', backup: 'off' },
      { name: 'plain' },
    ],
    users: [
      { id: 'a00000000001', login: 'alice', plan: 'saved' },
      { id: 'a00000000002', login: 'bob', plan: 'daily' },
      { id: 'a00000000003', login: 'carol', plan: 'none' },
      { id: 'a00000000004', login: 'dave', plan: 'plain' },
    ],
    homes: [
      { id: 'h00000000001', owner: 'a00000000001', login: 'alice', vm: 'main', createdAt: 't1' },
      // Kept: its VM was removed, it still follows its owner's plan.
      { id: 'h00000000002', owner: 'a00000000001', login: 'alice', vm: 'old', createdAt: 't2' },
      { id: 'h00000000003', owner: 'a00000000002', login: 'bob', vm: 'main', createdAt: 't3' },
      { id: 'h00000000004', owner: 'a00000000003', login: 'carol', vm: 'main', createdAt: 't4' },
      { id: 'h00000000005', owner: 'a00000000004', login: 'dave', vm: 'main', createdAt: 't5' },
      // Its owner was removed with --keep-homes: not backed up.
      { id: 'h00000000006', owner: null, login: 'erin', vm: 'main', createdAt: 't6' },
    ],
  } as unknown as State;

  it("follows each owner's plan, kept homes too; a home with no owner is not backed up", () => {
    expect(scheduledHomes(state)).toEqual([
      { home: 'h00000000001', owner: 'a00000000001', login: 'alice', schedule: 'hourly', keep: '2l', createdAt: 't1' },
      { home: 'h00000000002', owner: 'a00000000001', login: 'alice', schedule: 'hourly', keep: '2l', createdAt: 't2' },
      { home: 'h00000000003', owner: 'a00000000002', login: 'bob', schedule: 'daily', keep: '7d,4w', createdAt: 't3' },
    ]);
  });

  it('a login given to someone else since does not matter: the owner is the id', () => {
    const renamed = structuredClone(state);
    (renamed.users[0] as { login: string }).login = 'alice2';
    expect(scheduledHomes(renamed)[0]?.login).toBe('alice2');
  });
});

describe('overdue homes (berth doctor)', () => {
  const now = new Date('2030-01-07T12:00:00.000Z');
  const ago = (ms: number) => now.getTime() - ms;
  it.each([
    ['hourly', 90 * MINUTE, false],
    ['hourly', 2 * HOUR + 1, true],
    ['daily', 47 * HOUR, false],
    ['daily', 49 * HOUR, true],
  ] as const)('%s, last snapshot %i ms ago: overdue %s', (schedule, since, overdue) => {
    const h = home('d00000000001', schedule);
    expect(overdueHomes([h], new Map([[h.home, ago(since)]]), now).length > 0).toBe(overdue);
  });

  it('a home never backed up is overdue once it is that old', () => {
    const young = home('d00000000002', 'daily', new Date(ago(HOUR)).toISOString());
    const old = home('d00000000003', 'daily', new Date(ago(72 * HOUR)).toISOString());
    expect(overdueHomes([young, old], new Map(), now)).toEqual([{ home: old, last: null }]);
  });
});
