import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth } from '../../src/services/engine/open.js';
import { initHome } from '../../src/services/setup/init.js';
import { StateStore } from '../../src/state/store.js';
import { tempHome } from '../helpers/cli.js';

let home: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  await initHome(new StateStore(home));
});
afterEach(() => cleanup());

describe('which backend a context runs VMs with', () => {
  it('follows the engine setting as the state says at each call (a running daemon across config set engine), one backend per mode', async () => {
    const ctx = openBerth(home);
    const local = await ctx.backend();
    expect(local.networkScope).toBe('local');
    expect(local.cluster).toBeNull();
    await ctx.store.transact((s) => {
      s.config.engine = 'swarm';
    });
    const swarm = await ctx.backend();
    expect(swarm.networkScope).toBe('swarm');
    expect(swarm.cluster).not.toBeNull();
    await ctx.store.transact((s) => {
      s.config.engine = 'local';
    });
    // The same local backend again: its state (none) and the Swarm one's clients are kept per mode.
    expect(await ctx.backend()).toBe(local);
  });
});
