import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson } from '../helpers/cli.js';
import { daemonLog, daemonMetrics, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { unique, type VmHome, vmHome } from '../helpers/docker.js';

// Scheduled backups, end to end: a real daemon backs up the home of a user on an hourly plan by
// itself, applies the plan's retention, reports each home in /metrics, and tells the admins once
// when a home's backups failed twice in a row. BERTH_BACKUP_CLOCK_SPEED (a test knob) makes the
// schedule's clock run 3600 times fast: an hour of the schedule passes every second.

let h: VmHome;
let alice: string;
let homeId: string;

interface BackupsCheck {
  initialised: boolean;
  plansBackingUp: string[];
  check: { ok: boolean; detail: string } | null;
  overdue: unknown[];
  warnings: string[];
  failures: string[];
}
/** `berth doctor --json`'s backups part (doctor may exit 1 for other parts of a test host). */
const doctor = async () => (JSON.parse((await run(['doctor', '--json'])).stdout) as { backups: BackupsCheck }).backups;
let doctorBefore: BackupsCheck;

const run = (args: string[], env?: Record<string, string>) => berth(h.home, args, env ? { env } : {});
const must = async (args: string[]) => {
  const r = await run(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

interface Snapshot {
  id: string;
  home: string;
  reason: string;
  time: string;
}
const snapshots = async () => (await berthJson<{ snapshots: Snapshot[] }>(h.home, ['home', 'backups', homeId])).snapshots;

const metrics = () => daemonMetrics(h.home);

/** The value of one series of /metrics, or null when it is not there. */
const series = (text: string, name: string, home: string) => {
  const m = new RegExp(`^${name}\\{home="${home}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
};

/** The daemon log's lines that parse as JSON. */
const logLines = async () =>
  (await daemonLog(h.home)).split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

beforeAll(async () => {
  h = await vmHome();
  await must(['config', 'set', 'ssh.enabled', 'off']);
  await must(['plan', 'add', 'saved', '--backup', 'hourly', '--keep', '2l']);
  alice = unique('bs');
  await must(['user', 'allow', alice, '--plan', 'saved']);
  await berthJson(h.home, ['vm', 'create', alice]);
  await waitFor(
    `${alice}'s VM to be ready`,
    async () => (await run(['vm', 'exec', alice, '--', 'sh', '-c', 'test -f /run/berth-ready && echo hello > ~/hello.txt'])).code === 0,
    30_000,
  );
  doctorBefore = await doctor();
  await berthJson(h.home, ['backup', 'init']);
  const state = JSON.parse(await readFile(join(h.home, 'state.json'), 'utf8')) as { homes: Array<{ id: string }> };
  homeId = state.homes[0]?.id as string;
  const start = await run(['daemon', 'start'], { BERTH_BACKUP_CLOCK_SPEED: '3600' });
  expect(start.code, start.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  if (h) {
    await stopDaemonQuietly(h.home);
    await h.cleanup();
  }
}, 120_000);

describe('scheduled backups', () => {
  it('the daemon backs up the home of a user on an hourly plan by itself, and /metrics shows it by home id', async () => {
    const first = await waitFor(
      'a scheduled snapshot of the home',
      async () => (await snapshots()).find((s) => s.reason === 'schedule'),
      90_000,
    );
    expect(first.home).toBe(homeId);
    const text = await waitFor(
      'the metrics of the backup',
      async () => {
        const t = await metrics();
        return series(t, 'berth_backup_last_duration_seconds', homeId) !== null ? t : null;
      },
      30_000,
    );
    const last = series(text, 'berth_backup_last_success_timestamp_seconds', homeId) as number;
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(120);
    expect(series(text, 'berth_backup_last_duration_seconds', homeId)).toBeGreaterThan(0);
    expect(series(text, 'berth_backup_bytes_added_total', homeId)).toBeGreaterThan(0);
    expect(series(text, 'berth_backup_failures_total', homeId)).toBe(0);
    // Labelled by home id only: never a login.
    const lines = text.split('\n').filter((l) => l.startsWith('berth_backup_'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      expect(line).toContain(`home="${homeId}"`);
      expect(line).not.toContain(alice);
    }
  }, 150_000);

  it("applies the plan's retention (--keep 2l) to the home once a day of the schedule", async () => {
    // Several runs first.
    const before = await waitFor(
      'three snapshots or more',
      async () => {
        const all = await snapshots();
        return all.length >= 3 ? all : null;
      },
      60_000,
    );
    const since = (await logLines()).length;
    // A day of the schedule is 24 s here: the next retention removes all but the two newest.
    const applied = await waitFor(
      'a retention that removed snapshots',
      async () => (await logLines()).slice(since).find((l) => l.msg === 'retention applied' && l.home === homeId && Number(l.removed) > 0),
      90_000,
    );
    expect(applied.keep).toBe('2l');
    const after = await snapshots();
    const kept = before.filter((s) => after.some((a) => a.id === s.id));
    expect(kept.length).toBeLessThanOrEqual(2);
    expect(after.every((s) => s.home === homeId)).toBe(true);
  }, 200_000);

  it('berth doctor warns of a plan that backs up with no repository, and checks the repository once there is one', async () => {
    expect(doctorBefore).toMatchObject({ initialised: false, plansBackingUp: ['saved (hourly)'], check: null, failures: [] });
    expect(doctorBefore.warnings.join('\n')).toContain('back homes up, but the backup repository');
    expect(doctorBefore.warnings.join('\n')).toContain('berth backup init');
    const now = await doctor();
    expect(now).toMatchObject({ initialised: true, overdue: [], failures: [] });
    // restic check may meet the daemon's own lock (a prune): then a warning, never a failure.
    if (!now.check?.ok) expect(now.warnings.join('\n')).toContain('in use');
    const human = await run(['doctor']);
    expect(human.stdout).toMatch(/backup repository .*(restic check passed|could not be checked now)/);
  }, 120_000);

  it('tells the admins once when the home failed twice in a row, with the home, its owner and the error', async () => {
    const from = (await logLines()).length;
    // The repository's disk is gone (a folder that is not there): each backup fails.
    await must(['config', 'set', 'backup.repository', join(h.home, 'unmounted', 'repository')]);
    const notice = await waitFor(
      'the admins to be told',
      async () => (await logLines()).slice(from).find((l) => l.kind === 'backup-failed' && l.home === homeId),
      90_000,
    );
    expect(notice).toMatchObject({ user: 'admins', login: alice });
    expect(String(notice.msg)).toContain(`Backups of home ${homeId} (user ${alice}) failed 2 times in a row`);
    expect(String(notice.msg)).toMatch(/unmounted\/repository/);
    expect(String(notice.msg)).not.toMatch(/\.go:\d+/);
    // Later failures are counted, but told no more.
    await waitFor('two more failures', async () => (series(await metrics(), 'berth_backup_failures_total', homeId) ?? 0) >= 4, 60_000);
    expect((await logLines()).filter((l) => l.kind === 'backup-failed')).toHaveLength(1);
    const failures = (await logLines()).slice(from).filter((l) => l.msg === 'scheduled backup failed' && l.home === homeId);
    expect(failures.map((l) => l.consecutive).slice(0, 4)).toEqual([1, 2, 3, 4]);
    // The repository back: the next backup succeeds.
    await must(['config', 'unset', 'backup.repository']);
    const count = series(await metrics(), 'berth_backup_failures_total', homeId) ?? 0;
    const okAgain = await waitFor(
      'a backup after the repository is back',
      async () => {
        const lines = await logLines();
        const lastFail = lines.map((l) => l.msg).lastIndexOf('scheduled backup failed');
        return lines.slice(lastFail + 1).some((l) => l.msg === 'home backed up' && l.home === homeId);
      },
      60_000,
    );
    expect(okAgain).toBe(true);
    expect(series(await metrics(), 'berth_backup_failures_total', homeId)).toBeGreaterThanOrEqual(count);
  }, 250_000);
});
