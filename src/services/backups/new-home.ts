import { randomBytes } from 'node:crypto';
import { volumeName } from '../../docker/labels.js';
import { BerthError } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import type { Home } from '../../state/schema.js';
import type { Berth } from '../core/context.js';
import { provisionHome } from '../engine/home-storage.js';

/**
 * A new kept home beside `home`: the same owner, node and quota, named for the VM `NAME-rXXXX`
 * (a VM of that name gets it; `berth home assign` gives it to another VM), its volume and disk
 * made on the home's engine. The target of `berth home restore --to-new-home`.
 */
export async function newHomeLike(ctx: Berth, home: Home): Promise<Home> {
  if (!home.owner)
    throw new BerthError(
      'HOME_NOT_FOUND',
      `Home ${home.id} has no owner now, so a new home cannot be made for them.`,
      'Give it to a user first (berth home assign), or restore it in place.',
    );
  const suffix = `-r${randomBytes(2).toString('hex')}`;
  const made = await ctx.store.transact((state) => {
    const owner = state.users.find((u) => u.id === home.owner);
    if (!owner) throw new BerthError('USER_NOT_FOUND', `The owner of home ${home.id} is not a user any more.`, 'Restore it in place.');
    const id = newId();
    const fresh: Home = {
      id,
      owner: owner.id,
      login: owner.login,
      vm: `${home.vm.slice(0, 32 - suffix.length)}${suffix}`,
      volume: volumeName(id),
      diskBytes: home.diskBytes,
      createdAt: new Date().toISOString(),
      ...(home.node ? { node: home.node } : {}),
    };
    state.homes.push(fresh);
    return { home: fresh, plan: owner.plan, instanceId: state.instanceId };
  });
  try {
    const runtime = await (await ctx.backend()).engineOf({ ...(home.node ? { node: home.node } : {}) });
    await provisionHome(
      ctx,
      runtime,
      made.instanceId,
      made.home,
      { user: made.home.login, name: made.home.vm, plan: made.plan, home: made.home.id },
      made.home.owner as string,
    );
  } catch (err) {
    await ctx.store.transact((state) => {
      state.homes = state.homes.filter((h) => h.id !== made.home.id);
    });
    throw err;
  }
  return made.home;
}
