import { checkEndpoint, resolveEndpoint } from '../../docker/endpoints.js';
import { DockerRuntime } from '../../docker/runtime.js';
import { SwarmApi, type SwarmNode } from '../../docker/swarm.js';
import { BerthError } from '../../errors.js';
import type { State } from '../../state/schema.js';
import { formatSize } from '../../values/sizes.js';
import type { NodeView } from '../../views/node-view.js';
import type { VmView } from '../../views/vm-view.js';
import type { Berth } from '../core/context.js';
import { requireCluster } from '../engine/cluster.js';
import { withDeadline } from '../engine/deadline.js';
import { defaultsMissing, NODE_DEADLINE_MS, NODE_FIREWALL_MS, reachable } from '../engine/engines.js';
import { type FirewallReport, firewallStatus, nodeFirewallStatus } from '../network/firewall.js';
import { listVms } from '../vm/vm-status.js';

/** A node by hostname, id or id prefix (as docker node commands take them). */
function pick(nodes: SwarmNode[], name: string): SwarmNode {
  const text = name.trim();
  const byName = nodes.filter((n) => n.hostname === text);
  const byPrefix = nodes.filter((n) => text.length >= 4 && n.id.startsWith(text));
  const one =
    nodes.find((n) => n.id === text) ??
    (byName.length === 1 ? byName[0] : byName.length === 0 && byPrefix.length === 1 ? byPrefix[0] : undefined);
  if (byName.length > 1) {
    throw new BerthError(
      'NODE_AMBIGUOUS',
      `Two or more Swarm nodes are named "${text.slice(0, 64)}".`,
      'Name the node by its id (berth node list --json).',
    );
  }
  if (!one) {
    throw new BerthError(
      'NODE_NOT_FOUND',
      `There is no Swarm node "${text.slice(0, 64)}".`,
      `The nodes: ${nodes.map((n) => n.hostname).join(', ') || 'none'} (berth node list).`,
    );
  }
  return one;
}

async function viewOf(
  ctx: Berth,
  state: State,
  node: SwarmNode,
  self: string,
  check: boolean,
  firewall?: FirewallReport,
): Promise<NodeView> {
  const entry = state.nodes?.find((n) => n.id === node.id);
  const onNode = state.vms.filter((vm) => (vm.node ?? self) === node.id);
  const reserving = onNode.filter((vm) => vm.desired === 'running');
  const gpus = (vm: (typeof onNode)[number]) => (vm.resources.gpu === 'all' ? (node.generic.GPU ?? 0) : vm.resources.gpu);
  const reserved = {
    cpus: reserving.reduce((sum, vm) => sum + vm.resources.cpu, 0),
    memoryBytes: reserving.reduce((sum, vm) => sum + vm.resources.memoryBytes, 0),
    gpus: reserving.reduce((sum, vm) => sum + gpus(vm), 0),
  };
  const engine = node.id === self ? (await ctx.runtime()).address : (entry?.endpoint ?? '');
  let engineState: NodeView['engineState'] = engine ? 'unchecked' : 'unknown';
  const problems: string[] = [];
  if (check && engine) {
    engineState = await (await requireCluster(ctx))
      .reachableEngine(node.id, node.hostname)
      .then(() => 'ok' as const)
      .catch((err: unknown) => {
        problems.push(err instanceof BerthError ? err.message : String(err));
        return 'down' as const;
      });
  }
  if (!engine) problems.push(`berth does not know how to reach its engine: berth node engine ${node.hostname} ENDPOINT`);
  if (node.state !== 'ready') problems.push(`Swarm says it is ${node.state}`);
  if (node.availability !== 'active') problems.push(`its Swarm availability is ${node.availability}`);
  for (const missing of defaultsMissing(entry?.defaults)) problems.push(`its daemon lacks ${missing}`);
  if (entry?.drained) problems.push('drained by berth (berth node activate to take new VMs again)');
  // Missing or drifted rules are installed before a VM goes there; rules that cannot be keep VMs away.
  if (firewall && ['unavailable', 'unsupported'].includes(firewall.state))
    problems.push(`berth's firewall rules cannot be installed there (${firewall.state}): ${firewall.detail}`);
  return {
    id: node.id,
    hostname: node.hostname,
    role: node.role,
    leader: node.leader,
    state: node.state,
    availability: node.availability,
    drained: Boolean(entry?.drained),
    engine,
    engineState,
    cpus: node.cpus,
    memoryBytes: node.memoryBytes,
    memory: formatSize(node.memoryBytes),
    gpus: node.generic.GPU ?? 0,
    reserved: { ...reserved, memory: formatSize(reserved.memoryBytes) },
    vms: onNode.length,
    ...(firewall ? { firewall: { state: firewall.state, detail: firewall.detail } } : {}),
    acceptsVms: problems.length === 0,
    problems,
  };
}

/** The Swarm's nodes with what berth's VMs reserve on each (one manager call; `check`: each engine asked too, in parallel, with a deadline). */
export async function listNodes(ctx: Berth, options: { check?: boolean } = {}): Promise<NodeView[]> {
  const state = await ctx.store.read();
  const cluster = await requireCluster(ctx);
  const { api, nodeId: self } = await cluster.manager();
  const nodes = await api.nodes();
  return Promise.all(nodes.map((n) => viewOf(ctx, state, n, self, options.check ?? false)));
}

/** One node, with its engine asked and its daemon defaults checked afresh (a throw-away container there). */
export async function showNode(ctx: Berth, name: string): Promise<NodeView> {
  const cluster = await requireCluster(ctx);
  const { api, nodeId: self } = await cluster.manager();
  const nodes = await api.nodes();
  const node = pick(nodes, name);
  await cluster.checkNodes([node], true);
  const firewall = await withDeadline(NODE_FIREWALL_MS, `read the firewall rules of node ${node.hostname}`, async () =>
    node.id === self
      ? firewallStatus(ctx)
      : nodeFirewallStatus(ctx, await reachable(await cluster.nodeEngine(node.id), node.hostname), node, nodes),
  ).catch(
    (err: unknown): FirewallReport => ({
      state: 'unavailable',
      detail: err instanceof Error ? err.message : String(err),
      network: '',
      bridge: null,
      chains: [],
      problems: [],
      changes: [],
    }),
  );
  return viewOf(ctx, await ctx.store.read(), node, self, true, firewall);
}

/** Records how berth reaches a node's engine, once that engine answers and says it is that node. */
export async function setNodeEngine(ctx: Berth, name: string, endpoint: string, tlsDir?: string): Promise<NodeView> {
  const cluster = await requireCluster(ctx);
  const text = checkEndpoint(endpoint);
  const { api, nodeId: self } = await cluster.manager();
  const node = pick(await api.nodes(), name);
  const { address, tls } = await resolveEndpoint(text, tlsDir);
  const runtime = DockerRuntime.at(address, tls);
  const said = await withDeadline(NODE_DEADLINE_MS * 2, 'answer', () => new SwarmApi(runtime).self()).catch((err: unknown) => {
    throw new BerthError(
      'NODE_ENGINE_UNREACHABLE',
      `No engine answers at ${address} (${err instanceof BerthError ? err.message : String(err)}); nothing was changed.`,
      'Check the address (docker --host ADDRESS info works from here?) and try again.',
    );
  });
  if (said.nodeId !== node.id) {
    throw new BerthError(
      'NODE_ENGINE_MISMATCH',
      `The engine at ${address} is Swarm node ${said.nodeId || '(none: not in a Swarm)'}, not ${node.hostname} (${node.id}); nothing was changed.`,
      "Give the address of that node's own engine.",
    );
  }
  await ctx.store.transact((st) => {
    st.nodes ??= [];
    const entry = st.nodes.find((n) => n.id === node.id);
    if (entry) Object.assign(entry, { hostname: node.hostname, endpoint: text, ...(tlsDir ? { tlsDir } : {}) });
    else st.nodes.push({ id: node.id, hostname: node.hostname, endpoint: text, ...(tlsDir ? { tlsDir } : {}) });
    if (!tlsDir) for (const e of st.nodes) if (e.id === node.id) delete e.tlsDir;
  });
  await cluster.checkNodes([node], true);
  return viewOf(ctx, await ctx.store.read(), node, self, true);
}

/** `drain`: berth places no new VM on the node; its VMs keep running (and start there again). */
export async function setNodeDrained(ctx: Berth, name: string, drained: boolean): Promise<NodeView> {
  const cluster = await requireCluster(ctx);
  const { api, nodeId: self } = await cluster.manager();
  const node = pick(await api.nodes(), name);
  await ctx.store.transact((st) => {
    st.nodes ??= [];
    const entry = st.nodes.find((n) => n.id === node.id);
    if (entry) entry.drained = drained;
    else st.nodes.push({ id: node.id, hostname: node.hostname, endpoint: '', drained });
  });
  return viewOf(ctx, await ctx.store.read(), node, self, false);
}

/** What `/metrics` shows of one Swarm node (labelled by its hostname: one series per node). */
export interface NodeUsage {
  hostname: string;
  /** Its engine answered within the node deadline. */
  up: boolean;
  cpus: number;
  memoryBytes: number;
  /** What berth's VMs that should run there reserve. */
  reserved: { cpus: number; memoryBytes: number };
  /** berth's VMs there, by the state `vm list` shows (node-down when its engine does not answer). */
  vms: Map<string, number>;
}

/**
 * Each node's engine asked (in parallel, each within the node deadline) and each node's VMs read
 * as `vm list` reads them: one container list per node, whatever the number of VMs. Also the
 * states of all VMs, for the totals.
 */
export async function nodeUsage(ctx: Berth): Promise<{ nodes: NodeUsage[]; vms: VmView[] }> {
  const [nodes, vms, { nodeId: self }] = await Promise.all([
    listNodes(ctx, { check: true }),
    listVms(ctx, { all: true }),
    requireCluster(ctx).then((cluster) => cluster.manager()),
  ]);
  return {
    vms,
    nodes: nodes.map((n) => {
      const states = new Map<string, number>();
      for (const vm of vms) if ((vm.node ?? self) === n.id) states.set(vm.state, (states.get(vm.state) ?? 0) + 1);
      return {
        hostname: n.hostname,
        up: n.engineState === 'ok',
        cpus: n.cpus,
        memoryBytes: n.memoryBytes,
        reserved: { cpus: n.reserved.cpus, memoryBytes: n.reserved.memoryBytes },
        vms: states,
      };
    }),
  };
}
