import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import type { BackupResult, SnapshotView } from '../../src/services/backups/backups.js';
import {
  type BackupEvent,
  type BackupFailureNotice,
  BackupRunner,
  backupClock,
  describeFailure,
} from '../../src/services/backups/schedule.js';
import type { State } from '../../src/state/schema.js';

const HOUR = 3_600_000;
const H1 = 'a00000000001';
const H2 = 'a00000000002';

const state = (homes = [H1, H2]) =>
  ({
    config: {},
    plans: [{ name: 'saved', backup: 'hourly', backupKeep: '2l' }],
    users: [{ id: 'u00000000001', login: 'alice', plan: 'saved' }],
    homes: homes.map((id) => ({ id, owner: 'u00000000001', login: 'alice', vm: id, createdAt: '2030-01-01T00:00:00.000Z' })),
  }) as unknown as State;

const result = (home: string): BackupResult => ({
  snapshot: 'abcd1234',
  home,
  bytesAdded: 100,
  bytesProcessed: 1000,
  files: 3,
  seconds: 0.5,
});

/** A runner on fake operations and a clock the test moves. */
function harness(
  options: {
    snapshots?: SnapshotView[] | Error;
    fail?: (home: string) => Error | null;
    forgetFails?: () => boolean;
    homes?: string[];
  } = {},
) {
  let now = Date.parse('2030-01-07T10:00:00.000Z');
  const calls: string[] = [];
  const events: BackupEvent[] = [];
  const notices: BackupFailureNotice[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let current = state(options.homes);
  const runner = new BackupRunner({
    readState: async () => current,
    now: () => new Date(now),
    wallMs: () => now,
    onEvent: (e) => events.push(e),
    tellAdmins: async (n) => {
      notices.push(n);
    },
    ops: {
      snapshots: async () => {
        calls.push('list');
        if (options.snapshots instanceof Error) throw options.snapshots;
        return options.snapshots ?? [];
      },
      backup: async (home) => {
        calls.push(`backup ${home}`);
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight -= 1;
        const err = options.fail?.(home);
        if (err) throw err;
        return result(home);
      },
      forget: async (home, keep) => {
        calls.push(`forget ${home} ${keep}`);
        if (options.forgetFails?.()) throw new BerthError('BACKUP_FAILED', 'forget failed', 'locked');
        return { removed: 1 };
      },
    },
  });
  return {
    runner,
    calls,
    events,
    notices,
    maxInFlight: () => maxInFlight,
    advance: (ms: number) => {
      now += ms;
    },
    setState: (s: State) => {
      current = s;
    },
  };
}

describe('scheduled backups, run one at a time', () => {
  it('lists the repository once, backs up each due home one at a time, then its retention once a day', async () => {
    const h = harness();
    const ticks = [h.runner.tick(), h.runner.tick(), h.runner.tick()];
    await new Promise((r) => setTimeout(r, 1));
    expect([H1, H2]).toContain(h.runner.current());
    await Promise.all(ticks);
    expect(h.runner.current()).toBeNull();
    expect(h.maxInFlight()).toBe(1);
    expect(h.calls.filter((c) => c === 'list')).toHaveLength(1);
    expect(h.calls.filter((c) => c.startsWith('backup')).sort()).toEqual([`backup ${H1}`, `backup ${H2}`]);
    expect(h.calls).toContain(`forget ${H1} 2l`);
    // Nothing more within the hour.
    h.calls.length = 0;
    await h.runner.tick();
    expect(h.calls).toEqual([]);
    // The next hour: backed up again, retention not (once a day).
    h.advance(HOUR);
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(2);
    expect(h.calls.filter((c) => c.startsWith('forget'))).toHaveLength(0);
    h.advance(23 * HOUR);
    h.calls.length = 0;
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('forget'))).toHaveLength(2);
    const rec = h.runner.homes().get(H1);
    expect(rec).toMatchObject({ consecutiveFailures: 0, lastSeconds: 0.5, lastBytesAdded: 100 });
  });

  it('takes the last snapshots from the repository at start-up: a home backed up this hour is not due', async () => {
    const now = Date.parse('2030-01-07T10:00:00.000Z');
    // Taken now: after this hour's moment of the home, whatever it is.
    const recent = new Date(now).toISOString();
    const snapshots = [{ id: 'x', longId: 'x', time: recent, home: H1, user: null, reason: 'operator' }];
    const h = harness({ snapshots });
    await h.runner.tick();
    const backedUp = h.calls.filter((c) => c.startsWith('backup'));
    expect(backedUp).toEqual([`backup ${H2}`]);
    expect(h.runner.homes().get(H1)?.lastSuccessAt).toBe(now);
    expect(h.events.find((e) => e.kind === 'loaded')).toBeDefined();
  });

  it('tells the admins once when a home failed twice in a row, and again only after a success', async () => {
    let failing = true;
    const h = harness({ homes: [H1], fail: () => (failing ? new BerthError('BACKUP_FAILED', 'Backing up failed.', 'disk full') : null) });
    for (let i = 0; i < 5; i++) {
      await h.runner.tick();
      h.advance(HOUR);
    }
    expect(h.runner.homes().get(H1)?.consecutiveFailures).toBe(5);
    expect(h.notices).toHaveLength(1);
    expect(h.notices[0]).toMatchObject({ home: H1, login: 'alice', error: 'Backing up failed. disk full' });
    expect(h.notices[0]?.text).toContain(`home ${H1} (user alice) failed 2 times in a row: Backing up failed. disk full`);
    failing = false;
    await h.runner.tick();
    expect(h.runner.homes().get(H1)?.consecutiveFailures).toBe(0);
    failing = true;
    for (let i = 0; i < 2; i++) {
      h.advance(HOUR);
      await h.runner.tick();
    }
    expect(h.notices).toHaveLength(2);
  });

  it('a failed home is tried again after a pause, not at every tick', async () => {
    const h = harness({ homes: [H1], fail: () => new BerthError('BACKUP_FAILED', 'no', 'no') });
    await h.runner.tick();
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(1);
    h.advance(10 * 60_000);
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(2);
  });

  it('a backup held back by another (BACKUP_BUSY) is no failure: the tick ends and the home stays due', async () => {
    let busy = true;
    const h = harness({ fail: () => (busy ? new BerthError('BACKUP_BUSY', 'busy', 'wait') : null) });
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(1);
    expect(h.runner.homes().get(H1)?.consecutiveFailures ?? 0).toBe(0);
    busy = false;
    await h.runner.tick();
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(3);
  });

  it("restic's lock held by another run (a check) holds backups back for a while, then counts as a failure", async () => {
    const locked = new BerthError(
      'BACKUP_FAILED',
      'Backing up failed (restic exited 1).',
      'unable to create lock in backend: repository is already locked exclusively by PID 7',
    );
    let lockedNow = true;
    const h = harness({ homes: [H1], fail: () => (lockedNow ? locked : null) });
    await h.runner.tick();
    h.advance(60_000);
    await h.runner.tick();
    expect(h.runner.homes().get(H1)?.consecutiveFailures).toBe(0);
    expect(h.events.filter((e) => e.kind === 'busy')).toHaveLength(2);
    h.advance(30 * 60_000);
    await h.runner.tick();
    expect(h.runner.homes().get(H1)?.consecutiveFailures).toBe(1);
    lockedNow = false;
    h.advance(10 * 60_000);
    await h.runner.tick();
    expect(h.runner.homes().get(H1)).toMatchObject({ consecutiveFailures: 0 });
    expect(h.runner.homes().get(H1)?.lockedSince).toBeUndefined();
  });

  it('does nothing without a repository: said once, asked again at each tick', async () => {
    const h = harness({ snapshots: new BerthError('BACKUP_NO_REPOSITORY', 'none', 'berth backup init') });
    await h.runner.tick();
    await h.runner.tick();
    expect(h.events.filter((e) => e.kind === 'no-repository')).toHaveLength(1);
    expect(h.calls.filter((c) => c === 'list')).toHaveLength(2);
    expect(h.calls.filter((c) => c.startsWith('backup'))).toHaveLength(0);
  });

  it('forgets the records of homes deleted (the metrics keep only the homes scheduled)', async () => {
    const h = harness();
    await h.runner.tick();
    h.setState(state([H2]));
    await h.runner.tick();
    expect([...h.runner.homes().keys()]).toEqual([H2]);
    expect(h.events.filter((e) => e.kind === 'scheduled').at(-1)).toEqual({ kind: 'scheduled', homes: [H2] });
  });

  it('a failed retention is tried again an hour later, not after every backup', async () => {
    let failing = true;
    const h = harness({ homes: [H1], forgetFails: () => failing });
    const forgets = () => h.calls.filter((c) => c.startsWith('forget')).length;
    await h.runner.tick();
    expect(forgets()).toBe(1);
    expect(h.events.find((e) => e.kind === 'forget-failed')).toBeDefined();
    h.advance(30 * 60_000);
    // Not due again within the hour (the next backup is): nothing.
    await h.runner.tick();
    h.advance(HOUR);
    failing = false;
    await h.runner.tick();
    expect(forgets()).toBe(2);
    h.advance(HOUR);
    await h.runner.tick();
    expect(forgets()).toBe(2);
  });

  it('nothing is listed or run when no plan backs homes up', async () => {
    const h = harness({ homes: [] });
    await h.runner.tick();
    expect(h.calls).toEqual([]);
  });
});

describe('a failure as admins read it', () => {
  it("keeps the message and restic's last lines, not a Go stack trace", () => {
    const err = new BerthError(
      'BACKUP_FAILED',
      'Backing up home a00000000001 failed (restic exited 1).',
      'github.com/restic/restic/cmd/restic/main.go:98\nruntime.main\n\truntime/proc.go:250\nunable to create lock in backend',
    );
    expect(describeFailure(err)).toBe('Backing up home a00000000001 failed (restic exited 1). unable to create lock in backend');
    expect(describeFailure(new Error('plain'))).toBe('plain');
  });
});

describe('the test clock', () => {
  it('is the real one unless BERTH_BACKUP_CLOCK_SPEED says otherwise', () => {
    let real = 1_000_000;
    expect(backupClock({}, () => real).tickMs).toBe(60_000);
    const fast = backupClock({ BERTH_BACKUP_CLOCK_SPEED: '3600' }, () => real);
    real += 1000;
    expect(fast.now().getTime()).toBe(1_000_000 + HOUR);
    expect(fast.tickMs).toBe(250);
  });
});
