import { BerthError } from '../../errors.js';
import type { Berth } from '../core/context.js';
import type { Cluster } from '../core/vm-backend.js';

/** The nodes VMs run on, where the backend has several (a Swarm); null with one engine. */
export async function clusterOf(ctx: Berth): Promise<Cluster | null> {
  return (await ctx.backend()).cluster;
}

/** The Swarm's nodes, or NOT_SWARM for what only makes sense with several. */
export async function requireCluster(ctx: Berth): Promise<Cluster> {
  const cluster = await clusterOf(ctx);
  if (!cluster) {
    throw new BerthError(
      'NOT_SWARM',
      'berth runs VMs on one engine (config engine local); nodes are a Swarm notion.',
      'Run berth on a Swarm manager and set: berth config set engine swarm',
    );
  }
  return cluster;
}
