import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Berth } from '../../src/services/core/context.js';
import { openBerth } from '../../src/services/engine/open.js';
import { addSchedule, maintenanceTick, nextDue, removeSchedule } from '../../src/services/nodes/maintenance.js';
import { initHome } from '../../src/services/setup/init.js';
import { tempHome } from '../helpers/cli.js';

let ctx: Berth;
let cleanup: () => Promise<void>;
const at = (hhmm: string) => new Date(`2030-01-07T${hhmm}:00.000Z`);

beforeEach(async () => {
  const made = await tempHome();
  cleanup = made.cleanup;
  ctx = openBerth(made.home);
  await initHome(ctx.store);
});
afterEach(() => cleanup());

describe('scheduled maintenance windows (no VMs, so no engine needed)', () => {
  it('enters a window once however many ticks run at once, and leaves it at its end', async () => {
    await addSchedule(ctx, { cron: '0 2 * * *', duration: '1h', tz: 'UTC' });
    const ticks = await Promise.all([1, 2, 3].map(() => maintenanceTick(ctx, at('02:00'))));
    expect(ticks.flat().filter((a) => a.startsWith('entered'))).toHaveLength(1);
    expect((await ctx.store.read()).maintenance).toMatchObject({ on: true, until: '2030-01-07T03:00:00.000Z', window: 'w1' });
    expect(await maintenanceTick(ctx, at('02:30'))).toEqual([]);
    expect((await maintenanceTick(ctx, at('03:00'))).join()).toContain('left window w1');
    expect((await ctx.store.read()).maintenance.on).toBe(false);
  });

  it('still ends a window whose schedule was removed while it ran', async () => {
    await addSchedule(ctx, { cron: '0 2 * * *', duration: '1h', tz: 'UTC' });
    await maintenanceTick(ctx, at('02:00'));
    await removeSchedule(ctx, 'w1');
    await maintenanceTick(ctx, at('03:01'));
    expect((await ctx.store.read()).maintenance.on).toBe(false);
  });

  it('makes overlapping windows one maintenance lasting until the later end', async () => {
    await addSchedule(ctx, { cron: '0 2 * * *', duration: '2h', tz: 'UTC' });
    await addSchedule(ctx, { cron: '0 3 * * *', duration: '3h', tz: 'UTC' });
    await maintenanceTick(ctx, at('02:00'));
    await maintenanceTick(ctx, at('03:00'));
    await maintenanceTick(ctx, at('04:01'));
    expect((await ctx.store.read()).maintenance).toMatchObject({ on: true, until: '2030-01-07T06:00:00.000Z', window: 'w2' });
    await maintenanceTick(ctx, at('06:00'));
    expect((await ctx.store.read()).maintenance.on).toBe(false);
  });

  it('announces once, and the daemon is not woken again for an announced window', async () => {
    await addSchedule(ctx, { cron: '0 2 * * *', duration: '1h', notify: '30m', tz: 'UTC' });
    expect((await maintenanceTick(ctx, at('01:40'))).join()).toContain('announced window w1');
    expect(await maintenanceTick(ctx, at('01:45'))).toEqual([]);
    expect(nextDue(await ctx.store.read(), at('01:45'))?.toISOString()).toBe('2030-01-07T02:00:00.000Z');
  });

  it('follows the window time zone', async () => {
    const view = await addSchedule(ctx, { cron: '0 3 * * *', duration: '1h', tz: 'Asia/Tokyo' });
    expect(new Date(view.nextStart as string).getUTCHours()).toBe(18);
  });

  it('refuses patterns, zones and durations that make no sense', async () => {
    for (const input of [
      { cron: 'every sunday', duration: '1h' },
      { cron: '0 3 * * *', duration: '1h', tz: 'Mars/Olympus' },
      { cron: '0 3 * * *', duration: '0' },
    ]) {
      await expect(addSchedule(ctx, input)).rejects.toMatchObject({ usage: true });
    }
    expect((await ctx.store.read()).schedules).toEqual([]);
  });
});
