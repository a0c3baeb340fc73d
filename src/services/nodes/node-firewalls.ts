import type { DockerRuntime } from '../../docker/runtime.js';
import type { SwarmNode } from '../../docker/swarm.js';
import { OPERATOR } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { clusterOf, requireCluster } from '../engine/cluster.js';
import { withDeadline } from '../engine/deadline.js';
import { NODE_DEADLINE_MS, NODE_FIREWALL_MS, reachable } from '../engine/engines.js';
import {
  ensureFirewall,
  ensureNodeFirewall,
  type FirewallReport,
  firewallStatus,
  nodeFirewallStatus,
  removeFirewall,
  removeNodeFirewall,
} from '../network/firewall.js';
import { stopVms } from '../vm/vm-bulk.js';

/** This host's rules and, on Swarm, every other node's (each through its engine). */
export interface FirewallOverview extends FirewallReport {
  /** On Swarm: one report per node other than this one (the manager). */
  nodes?: FirewallReport[];
}

/** The Swarm nodes other than the manager, or none in local mode (or when the firewall is off). */
async function otherNodes(ctx: Berth): Promise<{ nodes: SwarmNode[]; others: SwarmNode[] }> {
  const cluster = await clusterOf(ctx);
  if (!cluster) return { nodes: [], others: [] };
  const { api, nodeId: self } = await cluster.manager();
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
  run: (runtime: DockerRuntime, node: SwarmNode, nodes: SwarmNode[]) => Promise<FirewallReport>,
): Promise<FirewallReport[] | undefined> {
  if (base.state === 'off') return undefined;
  const { nodes, others } = await otherNodes(ctx);
  if (nodes.length === 0) return undefined;
  return Promise.all(
    others.map((node) =>
      withDeadline(NODE_FIREWALL_MS, `${what} on node ${node.hostname}`, async () =>
        run(await reachable(await (await requireCluster(ctx)).nodeEngine(node.id), node.hostname), node, nodes),
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
        removeNodeFirewall(ctx, await reachable(await (await requireCluster(ctx)).nodeEngine(node.id), node.hostname), node),
      ).then(
        (r) => removed.push(...r.removed),
        (err: unknown) => failures.push(`${node.hostname}: ${err instanceof Error ? err.message : String(err)}`),
      ),
    ),
  );
  return { removed, failed: failures };
}

/** Checks in a row each node's rules were not in place, by node id (kept by the daemon between checks). */
export type FailedChecks = Map<string, number>;

/**
 * Fail closed on a node whose rules are gone and cannot be put back: after two checks in a row
 * (a passing hiccup is not enough), its running VMs are stopped (reason `firewall`) and their
 * owners told; they start again once the node has its rules (a start installs them first).
 * `failing` keeps only the nodes of this report. Returns the VMs stopped.
 */
export async function stopExposedVms(ctx: Berth, nodes: FirewallReport[], failing: FailedChecks): Promise<string[]> {
  const seen = new Set<string>();
  for (const r of nodes) {
    if (!r.nodeId) continue;
    seen.add(r.nodeId);
    if (r.state === 'ok' || r.state === 'off') failing.delete(r.nodeId);
    else failing.set(r.nodeId, (failing.get(r.nodeId) ?? 0) + 1);
  }
  for (const id of failing.keys()) if (!seen.has(id)) failing.delete(id);
  const exposed = new Set([...failing].filter(([, n]) => n >= 2).map(([id]) => id));
  if (exposed.size === 0) return [];
  const state = await ctx.store.read();
  const running = state.vms.filter((vm) => vm.node && exposed.has(vm.node) && vm.desired === 'running' && vm.phase === 'ready');
  if (running.length === 0) return [];
  const result = await stopVms(
    ctx,
    running.map((vm) => ({ ref: vmRef(vm), reason: 'firewall' as const })),
    OPERATOR,
    { concurrency: effectiveConfig(state.config)['bulk.concurrency'] },
  );
  const why = (node: string | undefined) => nodes.find((r) => r.nodeId === node)?.detail ?? '';
  for (const vm of running.filter((v) => result.changed.includes(vmRef(v)))) {
    await ctx.notifier
      .send({
        kind: 'vm-stopped',
        to: vm.user,
        vm: vmRef(vm),
        text: `Your VM ${vmRef(vm)} was stopped: berth could not keep its node's firewall rules in place (${why(vm.node).slice(0, 200)}). Start it again later; the operator is told.`,
      })
      .catch(() => undefined);
  }
  return result.changed;
}
