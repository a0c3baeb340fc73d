import { GPU_KIND, NODE_PIN } from '../../docker/hardening.js';
import type { SwarmNode } from '../../docker/swarm.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { NodeDefaults, State, Vm } from '../../state/schema.js';
import { defaultsMissing } from './engines.js';

/**
 * Where a VM may go on a Swarm, decided from facts alone (no engine call): the Swarm backend reads
 * the nodes and their defaults, prepares the nodes this says to, and places the service with the
 * constraints this returns.
 */
export interface PlacementFacts {
  nodes: SwarmNode[];
  state: Pick<State, 'nodes' | 'vms'>;
  /** The manager's node id. */
  self: string;
  /** The node holding the VM's home, when it has one there already (the VM must go there). */
  homeNode?: string;
  defaults: Map<string, NodeDefaults | undefined>;
}

/** Nodes berth cannot reach, whose daemon lacks the defaults, or that berth drained get no new VM. */
export function unfit(f: PlacementFacts, node: SwarmNode): boolean {
  const entry = f.state.nodes?.find((e) => e.id === node.id);
  return (
    defaultsMissing(f.defaults.get(node.id)).length > 0 ||
    (node.id !== f.self && !entry?.endpoint) ||
    (!f.homeNode && Boolean(entry?.drained))
  );
}

/** The nodes to make the VM network and firewall rules on before placing: fit, ready, and the home's node if it has one. */
export function nodesToPrepare(f: PlacementFacts): SwarmNode[] {
  return f.nodes.filter((n) => !unfit(f, n) && (!f.homeNode || n.id === f.homeNode) && n.state === 'ready');
}

/** What preparing the nodes found: nodes without the network, nodes whose firewall rules failed (with why). */
export interface Prepared {
  noNetwork: Set<string>;
  firewallFailed: Map<string, BerthError>;
}

export interface Placement {
  /** The service's placement constraints. */
  constraints: string[];
  /** GPUs the VM reserves (0: none). */
  gpus: number;
  /** Each candidate node's GPUs as berth's VMs hold them, for the refusal Swarm may still give. */
  gpuRoom: string;
}

/** The constraints the VM's service gets, or the refusal (thrown) when no node may take it. */
export function placeVm(f: PlacementFacts, vm: Vm, prepared: Prepared): Placement {
  const home = f.homeNode;
  const homeFirewall = home ? prepared.firewallFailed.get(home) : undefined;
  if (homeFirewall) throw homeFirewall;
  const excluded = f.nodes.filter(
    (n) => unfit(f, n) || prepared.noNetwork.has(n.id) || prepared.firewallFailed.has(n.id) || n.state !== 'ready',
  );
  // Nowhere to go, and firewall rules are why: that is the error, not Swarm's "no suitable node".
  const [firewallError] = prepared.firewallFailed.values();
  if (firewallError && excluded.length === f.nodes.length) throw firewallError;
  if (home && f.nodes.some((n) => n.id === home && unfit(f, n))) {
    throw new BerthError(
      'NODE_UNFIT',
      `The home of VM ${vmRef(vm)} is on node ${home}, which cannot take VMs: ${defaultsMissing(f.defaults.get(home)).join('; ') || 'berth cannot reach its engine'}.`,
      'Fix the node (berth node show), then try again.',
    );
  }
  const constraints = home ? [`${NODE_PIN}==${home}`] : excluded.map((n) => `${NODE_PIN}!=${n.id}`);
  // GPUs: Swarm places by the reservation; a VM no node could ever hold is refused before anything is made.
  const gpus = vm.resources.gpu === 'all' ? 0 : vm.resources.gpu;
  const candidates = f.nodes.filter((n) => !excluded.includes(n) && (!home || n.id === home));
  const room = gpus > 0 ? gpuRoom(f, candidates) : '';
  if (gpus > 0 && !candidates.some((n) => (n.generic[GPU_KIND] ?? 0) >= gpus))
    throw noGpuRoom(vm, gpus, 'no node that may take it advertises that many', room);
  return { constraints, gpus, gpuRoom: room };
}

/** Each node's GPUs as berth's VMs hold them, reserved/advertised: `node2 1/2, node3 0/0`. */
function gpuRoom(f: PlacementFacts, nodes: SwarmNode[]): string {
  const reserved = (n: SwarmNode) =>
    f.state.vms
      .filter((v) => (v.node ?? f.self) === n.id && v.desired === 'running' && v.phase === 'ready')
      .reduce((sum, v) => sum + (v.resources.gpu === 'all' ? 0 : v.resources.gpu), 0);
  return nodes.map((n) => `${n.hostname} ${reserved(n)}/${n.generic[GPU_KIND] ?? 0}`).join(', ') || 'none';
}

export function noGpuRoom(vm: Vm, gpus: number, why: string, room: string): BerthError {
  return new BerthError(
    'NO_NODE_FITS',
    `No Swarm node can take VM ${vmRef(vm)} now: it reserves ${gpus} GPU(s), and ${why} (GPUs reserved by berth's VMs/advertised: ${room}).`,
    'Stop or destroy a VM that holds GPUs, add GPUs to a node (node-generic-resources in its daemon.json, see docs/swarm.md), or use a plan with fewer GPUs.',
  );
}
