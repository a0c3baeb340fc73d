import type Docker from 'dockerode';
import { BerthError } from '../errors.js';
import type { DockerRuntime } from './runtime.js';

/** A Swarm node as the manager sees it. */
export interface SwarmNode {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  /** ready, down, unknown, disconnected. */
  state: string;
  /** active, pause, drain. */
  availability: string;
  /** The address the node joined with. */
  addr: string;
  leader: boolean;
  cpus: number;
  memoryBytes: number;
  /** Generic resources the node offers (name → count), e.g. GPU. */
  generic: Record<string, number>;
}

/** The one task of a VM's service, as Swarm places it. */
export interface SwarmTask {
  id: string;
  nodeId: string;
  /** new, pending, assigned, …, running, shutdown, failed, rejected. */
  state: string;
  desiredState: string;
  /** Why a task is not running (Swarm's words: "no suitable node …"). */
  message: string;
  err: string;
  containerId: string | null;
  createdAt: string;
}

export interface SwarmService {
  id: string;
  name: string;
  version: number;
  spec: Docker.ServiceSpec;
}

/** The engine's JSON as it comes (read field by field, with defaults). */
// biome-ignore lint/suspicious/noExplicitAny: the engine's documents are read defensively, field by field
type Raw = any;

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

/**
 * The Swarm side of the manager's Docker API: services, their tasks, nodes. Containers, exec,
 * volumes and the rest are each node's own engine (a `DockerRuntime` per node).
 */
export class SwarmApi {
  constructor(private readonly runtime: DockerRuntime) {}

  private get docker(): Docker {
    return this.runtime.docker;
  }

  private fail(err: unknown, what: string): never {
    if (err instanceof BerthError) throw err;
    const e = err as { json?: { message?: string }; message?: string };
    const detail = (e.json?.message ?? e.message ?? String(err)).trim();
    if (/not a swarm manager|This node is not a swarm manager/i.test(detail)) {
      throw new BerthError(
        'NOT_A_SWARM_MANAGER',
        `The engine at ${this.runtime.address} is not a Swarm manager, so berth cannot ${what}.`,
        'Run berth on a manager (docker swarm init, or docker node promote), or set berth config engine local.',
      );
    }
    throw new BerthError('SWARM_ERROR', `Swarm could not ${what}: ${detail}`, 'See the manager engine log for more.');
  }

  /** Whether the engine is an active manager of a Swarm, and its own node id. */
  async self(): Promise<{ nodeId: string; manager: boolean; state: string }> {
    const info = (await this.docker.info().catch((err) => this.fail(err, 'read the engine info'))) as {
      Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean };
    };
    return {
      nodeId: info.Swarm?.NodeID ?? '',
      manager: Boolean(info.Swarm?.ControlAvailable),
      state: info.Swarm?.LocalNodeState ?? 'inactive',
    };
  }

  async nodes(): Promise<SwarmNode[]> {
    const list = (await this.docker.listNodes().catch((err) => this.fail(err, 'list the nodes'))) as Array<Raw>;
    return list.map(nodeOf);
  }

  async setAvailability(nodeId: string, availability: 'active' | 'drain' | 'pause'): Promise<void> {
    const node = this.docker.getNode(nodeId);
    const info = (await node.inspect().catch((err) => this.fail(err, `inspect node ${nodeId}`))) as Raw;
    await node
      .update({ _query: { version: info.Version.Index }, _body: { ...info.Spec, Availability: availability } } as object)
      .catch((err) => this.fail(err, `set node ${nodeId} ${availability}`));
  }

  async createService(spec: Docker.ServiceSpec): Promise<string> {
    // No registry lookup: images are on the nodes already (docker save | docker load, or a registry the nodes pull from).
    // No auth at all: with one, the engine asks the registry for the image's digest first.
    const made = (await this.docker
      .createService(undefined as unknown as Docker.AuthConfig, { ...spec } as Docker.CreateServiceOptions)
      .catch((err) => this.fail(err, `create service ${spec.Name}`))) as { id?: string; ID?: string };
    return made.id ?? made.ID ?? '';
  }

  async service(name: string): Promise<SwarmService | null> {
    try {
      const info = (await this.docker.getService(name).inspect()) as Raw;
      return { id: info.ID, name: info.Spec.Name, version: info.Version.Index, spec: info.Spec };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      return this.fail(err, `inspect service ${name}`);
    }
  }

  /** Changes a service's spec (read fresh, changed by `change`, written with its version). */
  async updateService(name: string, change: (spec: Docker.ServiceSpec) => void): Promise<void> {
    const current = await this.service(name);
    if (!current) throw new BerthError('VM_SERVICE_MISSING', `The Swarm service ${name} is gone.`, 'Recreate it: berth vm rebuild');
    change(current.spec);
    await this.docker
      .getService(current.id)
      .update({ _query: { version: current.version }, _body: current.spec } as object)
      .catch((err) => this.fail(err, `update service ${name}`));
  }

  async removeService(name: string): Promise<void> {
    await this.docker
      .getService(name)
      .remove()
      .catch((err) => statusOf(err) === 404 || this.fail(err, `remove service ${name}`));
  }

  /** The tasks of one service, newest first. */
  async tasks(service: string): Promise<SwarmTask[]> {
    const list = (await this.docker
      .listTasks({ filters: { service: [service] } })
      .catch((err) => this.fail(err, `list the tasks of ${service}`))) as Array<Raw>;
    return list.map(taskOf).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** The services carrying these labels: one call. */
  async services(labels: string[]): Promise<SwarmService[]> {
    const list = (await this.docker
      .listServices({ filters: { label: labels } })
      .catch((err) => this.fail(err, 'list services'))) as Array<Raw>;
    return list.map((info) => ({ id: info.ID, name: info.Spec.Name, version: info.Version.Index, spec: info.Spec }));
  }
}

export function nodeOf(n: Raw): SwarmNode {
  const generic: Record<string, number> = {};
  for (const g of n.Description?.Resources?.GenericResources ?? []) {
    const discrete = g.DiscreteResourceSpec;
    if (discrete) generic[discrete.Kind] = (generic[discrete.Kind] ?? 0) + Number(discrete.Value);
    const named = g.NamedResourceSpec;
    if (named) generic[named.Kind] = (generic[named.Kind] ?? 0) + 1;
  }
  return {
    id: n.ID,
    hostname: n.Description?.Hostname ?? '',
    role: n.Spec?.Role === 'manager' ? 'manager' : 'worker',
    state: n.Status?.State ?? 'unknown',
    availability: n.Spec?.Availability ?? 'active',
    // A manager's Status.Addr may read 0.0.0.0: its ManagerStatus.Addr (HOST:2377) says where it is.
    addr:
      n.Status?.Addr && n.Status.Addr !== '0.0.0.0'
        ? n.Status.Addr
        : String(n.ManagerStatus?.Addr ?? '')
            .replace(/:\d+$/, '')
            .replace(/^\[|\]$/g, '') ||
          (n.Status?.Addr ?? ''),
    leader: Boolean(n.ManagerStatus?.Leader),
    cpus: Number(n.Description?.Resources?.NanoCPUs ?? 0) / 1e9,
    memoryBytes: Number(n.Description?.Resources?.MemoryBytes ?? 0),
    generic,
  };
}

function taskOf(t: Raw): SwarmTask {
  return {
    id: t.ID,
    nodeId: t.NodeID ?? '',
    state: t.Status?.State ?? 'new',
    desiredState: t.DesiredState ?? '',
    message: t.Status?.Message ?? '',
    err: t.Status?.Err ?? '',
    containerId: t.Status?.ContainerStatus?.ContainerID || null,
    createdAt: t.CreatedAt ?? '',
  };
}
