import type { SwarmNode } from '../docker/swarm.js';
import { BerthError } from '../errors.js';
import { effectiveConfig } from '../values/config-keys.js';
import type { Berth } from './context.js';
import { withDeadline } from './deadline.js';
import { NODE_DEADLINE_MS, NODE_FIREWALL_MS, nodeEngine, reachable, swarmManager } from './engines.js';
import {
  ensureFirewall,
  ensureNodeFirewall,
  type FirewallReport,
  firewallStatus,
  nodeFirewallStatus,
  removeFirewall,
  removeNodeFirewall,
} from './firewall.js';

/** This host's rules and, on Swarm, every other node's (each through its engine). */
export interface FirewallOverview extends FirewallReport {
  /** On Swarm: one report per node other than this one (the manager). */
  nodes?: FirewallReport[];
}

/** The Swarm nodes other than the manager, or none in local mode (or when the firewall is off). */
async function otherNodes(ctx: Berth): Promise<{ nodes: SwarmNode[]; others: SwarmNode[] }> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (cfg.engine !== 'swarm') return { nodes: [], others: [] };
  const { api, nodeId: self } = await swarmManager(ctx);
  const nodes = await withDeadline(NODE_DEADLINE_MS, 'list the Swarm nodes', () => api.nodes());
  return { nodes, others: nodes.filter((n) => n.id !== self) };
}

/** A node's report when its rules could not be read or made: what went wrong, as `unavailable`. */
function failed(ctx: FirewallReport, node: SwarmNode, err: unknown): FirewallReport {
  const e = err instanceof BerthError ? err : null;
  return {
    ...ctx,
    state: 'unavailable',
    node: node.hostname,
    nodeId: node.id,
    bridge: null,
    problems: [],
    changes: [],
    detail: `${e?.message ?? String(err)}${e?.hint ? ` ${e.hint}` : ''}`,
  };
}

/** On each node in parallel, each with the firewall's deadline: one that does not answer is reported, not waited for. */
async function onNodes(
  ctx: Berth,
  base: FirewallReport,
  what: string,
  run: (runtime: Awaited<ReturnType<typeof nodeEngine>>, node: SwarmNode, nodes: SwarmNode[]) => Promise<FirewallReport>,
): Promise<FirewallReport[] | undefined> {
  if (base.state === 'off') return undefined;
  const { nodes, others } = await otherNodes(ctx);
  if (nodes.length === 0) return undefined;
  return Promise.all(
    others.map((node) =>
      withDeadline(NODE_FIREWALL_MS, `${what} on node ${node.hostname}`, async () =>
        run(await reachable(await nodeEngine(ctx, node.id), node.hostname), node, nodes),
      ).then(
        (r) => ({ ...r, nodeId: node.id }),
        (err: unknown) => failed(base, node, err),
      ),
    ),
  );
}

/** `berth network apply`, and the daemon's keeper: this host's rules, then each node's. */
export async function applyFirewalls(ctx: Berth): Promise<FirewallOverview> {
  const here = await ensureFirewall(ctx);
  const nodes = await onNodes(ctx, here, 'install the firewall rules', (runtime, node, all) => ensureNodeFirewall(ctx, runtime, node, all));
  return nodes ? { ...here, nodes } : here;
}

/** `berth network status`: how the rules here and on each node compare with the policy. */
export async function firewallsStatus(ctx: Berth): Promise<FirewallOverview> {
  const here = await firewallStatus(ctx);
  const nodes = await onNodes(ctx, here, 'read the firewall rules', (runtime, node, all) => nodeFirewallStatus(ctx, runtime, node, all));
  return nodes ? { ...here, nodes } : here;
}

/** `berth network remove`: this home's chains and jumps here and on every node that answers. */
export async function removeFirewalls(ctx: Berth): Promise<{ removed: string[]; failed: string[] }> {
  const { removed } = await removeFirewall(ctx);
  const { others } = await otherNodes(ctx);
  const failures: string[] = [];
  await Promise.all(
    others.map((node) =>
      withDeadline(NODE_FIREWALL_MS, `remove the firewall rules on node ${node.hostname}`, async () =>
        removeNodeFirewall(ctx, await reachable(await nodeEngine(ctx, node.id), node.hostname), node),
      ).then(
        (r) => removed.push(...r.removed),
        (err: unknown) => failures.push(`${node.hostname}: ${err instanceof Error ? err.message : String(err)}`),
      ),
    ),
  );
  return { removed, failed: failures };
}
