import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notice } from '../../src/services/core/notify.js';
import { openBerth } from '../../src/services/engine/open.js';
import { enforcePolicies } from '../../src/services/vm/vm-policies.js';
import { berth, berthJson } from '../helpers/cli.js';
import { docker, findVmContainer, homeVolume, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

let h: VmHome;
const notices: Notice[] = [];
const ctx = () => openBerth(h.home, { send: async (n) => void notices.push(n) });
const HOUR = 3600_000;

beforeAll(async () => {
  h = await vmHome();
});
afterAll(() => h.cleanup());

describe('lifetime and destroy-after policies', () => {
  it('stops a VM past its plan lifetime, then destroys it once stopped too long, keeping the home; the owner hears of both', async () => {
    await berth(h.home, ['plan', 'add', 'day', '--cpu', '0.5', '--ram', '64m', '--max-lifetime', '24h']);
    const login = unique('l');
    await berth(h.home, ['user', 'allow', login, '--plan', 'day']);
    await berthJson(h.home, ['vm', 'create', login]);
    const shown = JSON.parse((await berth(h.home, ['vm', 'show', login, '--json'])).stdout);
    expect(shown.nextStop.reason).toBe('lifetime');
    expect(Date.parse(shown.nextStop.at) - Date.parse(shown.lastStartedAt)).toBe(24 * HOUR);

    expect(await enforcePolicies(ctx(), new Date(Date.now() + HOUR))).toEqual([]);
    const later = await enforcePolicies(ctx(), new Date(Date.now() + 25 * HOUR));
    expect(later).toEqual([expect.objectContaining({ vm: `${login}/main`, action: 'stopped', reason: 'lifetime' })]);
    expect((await docker.getContainer(await vmContainer(login)).inspect()).State.Running).toBe(false);
    expect(JSON.parse((await berth(h.home, ['vm', 'show', login, '--json'])).stdout).stopReason).toBe('lifetime');

    await berth(h.home, ['config', 'set', 'destroy-after', '30d']);
    expect(await enforcePolicies(ctx(), new Date(Date.now() + 2 * 24 * HOUR))).toEqual([]);
    const gone = await enforcePolicies(ctx(), new Date(Date.now() + 31 * 24 * HOUR));
    expect(gone).toEqual([expect.objectContaining({ vm: `${login}/main`, action: 'destroyed' })]);
    expect(await findVmContainer(login)).toBeNull();
    await docker.getVolume(await homeVolume(login)).inspect();
    expect(notices.filter((n) => n.to === login).map((n) => n.kind)).toEqual(['vm-stopped', 'vm-destroyed']);
    await berth(h.home, ['config', 'unset', 'destroy-after']);
  });

  it('keeps a VM with a command running in it alive however idle its CPU', async () => {
    const login = unique('i');
    await berth(h.home, ['user', 'allow', login]);
    await berthJson(h.home, ['vm', 'create', login]);
    await berth(h.home, ['config', 'set', 'idle-timeout', '1m']);
    try {
      const session = berth(h.home, ['vm', 'exec', login, '--', 'sleep', '4']);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await enforcePolicies(ctx(), new Date(Date.now() + HOUR))).toEqual([]);
      await session;
      // The busy check above counted as activity at its (future) time; idle is measured from there.
      const idle = await enforcePolicies(ctx(), new Date(Date.now() + 3 * HOUR));
      expect(idle).toEqual([expect.objectContaining({ vm: `${login}/main`, reason: 'idle' })]);
    } finally {
      await berth(h.home, ['config', 'unset', 'idle-timeout']);
    }
  });
});
