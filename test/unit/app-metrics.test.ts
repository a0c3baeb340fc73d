import { describe, expect, it } from 'vitest';
import { createMetrics, newBuilds } from '../../daemon/metrics.js';
import type { Berth } from '../../src/services/core/context.js';
import type { App, State } from '../../src/state/schema.js';

type AppLike = Pick<App, 'id' | 'user' | 'status' | 'restarts' | 'build'>;

const app = (id: string, user: string, over: Partial<AppLike> = {}): AppLike => ({ id, user, status: 'running', restarts: 0, ...over });
const build = (at: string, seconds: number, outcome: 'ok' | 'failed' | 'timeout' = 'ok') => ({ at, seconds, outcome });

/** The daemon's metrics over a state file that holds `apps` (a read that the test changes). */
function metricsOver(apps: AppLike[]) {
  let state = { apps } as unknown as State;
  const ctx = { store: { read: async () => state } } as unknown as Berth;
  const metrics = createMetrics(ctx);
  const scrape = async (name: string) => (await metrics.registry.getSingleMetricAsString(name)).split('\n');
  return {
    metrics,
    scrape,
    set(next: AppLike[]) {
      state = { apps: next } as unknown as State;
    },
  };
}

describe("the daemon's app metrics", () => {
  it('berth_apps counts apps by status, every status present (0 when none)', async () => {
    const m = metricsOver([app('a1', 'alice'), app('a2', 'alice', { status: 'crashed' }), app('b1', 'bob')]);
    const lines = await m.scrape('berth_apps');
    expect(lines).toContain('berth_apps{state="running"} 2');
    expect(lines).toContain('berth_apps{state="crashed"} 1');
    expect(lines).toContain('berth_apps{state="building"} 0');
  });

  it("berth_app_restarts sums each user's apps' restarts; a user whose apps went has no series", async () => {
    const m = metricsOver([app('a1', 'alice', { restarts: 2 }), app('a2', 'alice', { restarts: 3 }), app('b1', 'bob')]);
    expect(await m.scrape('berth_app_restarts')).toEqual(
      expect.arrayContaining(['berth_app_restarts{user="alice"} 5', 'berth_app_restarts{user="bob"} 0']),
    );
    m.set([app('b1', 'bob', { restarts: 1 })]);
    const after = await m.scrape('berth_app_restarts');
    expect(after).toContain('berth_app_restarts{user="bob"} 1');
    expect(after.join('\n')).not.toContain('alice');
  });

  it('counts a build when a new build.at shows in the state, not the builds there before the daemon looked first', async () => {
    const m = metricsOver([app('a1', 'alice', { build: build('2026-01-01T00:00:00.000Z', 40) })]);
    m.metrics.apps.observe({ apps: [app('a1', 'alice', { build: build('2026-01-01T00:00:00.000Z', 40) })] as App[] });
    expect(await m.scrape('berth_app_builds_total')).toContain('berth_app_builds_total{outcome="ok"} 0');
    // The CLI rebuilt alice's app (a failure) and built bob's: seen at the next look (a scrape here).
    m.set([
      app('a1', 'alice', { build: build('2026-01-02T00:00:00.000Z', 7, 'failed') }),
      app('b1', 'bob', { build: build('2026-01-02T00:01:00.000Z', 90) }),
    ]);
    await m.scrape('berth_apps');
    const builds = await m.scrape('berth_app_builds_total');
    expect(builds).toContain('berth_app_builds_total{outcome="ok"} 1');
    expect(builds).toContain('berth_app_builds_total{outcome="failed"} 1');
    expect(builds).toContain('berth_app_builds_total{outcome="timeout"} 0');
    const seconds = await m.scrape('berth_app_build_seconds');
    expect(seconds).toContain('berth_app_build_seconds_count 2');
    expect(seconds).toContain('berth_app_build_seconds_sum 97');
    expect(seconds).toContain('berth_app_build_seconds_bucket{le="15"} 1');
    // Looked at again with nothing new: nothing more is counted.
    await m.scrape('berth_apps');
    expect(await m.scrape('berth_app_builds_total')).toContain('berth_app_builds_total{outcome="ok"} 1');
  });

  it('newBuilds: by app id, a removed app forgotten, an app rebuilt after removal and redeploy counted', () => {
    const first = newBuilds(new Map(), [{ id: 'a', build: build('t1', 1) }, { id: 'b' }]);
    expect(first.builds).toHaveLength(1);
    expect([...first.seen]).toEqual([['a', 't1']]);
    const same = newBuilds(first.seen, [{ id: 'a', build: build('t1', 1) }]);
    expect(same.builds).toEqual([]);
    const gone = newBuilds(first.seen, []);
    expect(gone.seen.size).toBe(0);
    const again = newBuilds(gone.seen, [{ id: 'a', build: build('t1', 1) }]);
    expect(again.builds).toEqual([build('t1', 1)]);
  });
});
