import type Docker from 'dockerode';
import type { DockerRuntime } from '../../docker/runtime.js';
import type { SwarmApi, SwarmNode } from '../../docker/swarm.js';
import type { Home, NodeDefaults, Resources, State, Vm } from '../../state/schema.js';

/**
 * The port between berth's VMs and what runs them. Its implementations (src/services/engine/) are
 * the only code that knows which engine berth is on: one Docker engine (a VM is a container), or a
 * Swarm (a VM is a service pinned to the node holding its home; each node's own engine runs its
 * container). Everything that touches VMs asks the port; a later backend implements the same.
 */
export interface VmBackend {
  /** The engine that holds this VM's container and home, answering within a deadline (else NODE_DOWN). */
  engineOf(vm: Pick<Vm, 'node'>): Promise<DockerRuntime>;
  /**
   * The VM's container now: the record's, or (Swarm) its running task's, which Swarm replaces when
   * the VM's process exits or its node restarts (the record follows).
   */
  containerOf(vm: Vm): Promise<string | null>;
  /** Whether the VM's container runs on this host's engine (its address on berth's bridge is reachable from here). */
  isHere(vm: Pick<Vm, 'node'>): Promise<boolean>;
  /** What this backend can give VMs and whether it has room: checked inside state transactions. */
  admission(): Promise<Admission>;
  /**
   * Makes a new VM: its home's storage, berth's network and firewall, its workload, started.
   * Everything it made is removed again if any step fails.
   */
  create(vm: Vm, spec: Docker.ContainerCreateOptions, home: HomeToMount): Promise<Deployed>;
  /**
   * Makes a made VM's workload again from its record (home kept, pinned to the node holding it),
   * started only if the VM should run. The old workload is removed first.
   */
  redeploy(vm: Vm, spec: Docker.ContainerCreateOptions, home: HomeToMount): Promise<Deployed>;
  /** Starts a made VM (`spec`: its create request, the hardening it must have); its container id now. */
  start(vm: Vm, spec: Docker.ContainerCreateOptions): Promise<string>;
  /** Stops and starts a VM; its container id now. */
  restart(vm: Vm, spec: Docker.ContainerCreateOptions): Promise<string>;
  /** Stops a VM; `signal` aborts the wait. */
  stop(vm: Vm, signal?: AbortSignal): Promise<void>;
  /** Of these made VMs, those whose workload the engine no longer has (removed behind berth's back). */
  workloadsMissing(vms: Vm[]): Promise<Vm[]>;
  /** Removes the VM's workload (the home stays). */
  remove(vm: Vm): Promise<void>;
  /** After the VM's workload is gone: its home's storage let go of, or (`delete`) removed. */
  releaseHome(vm: Pick<Vm, 'node'>, home: Home, options: { delete: boolean }): Promise<void>;
  /**
   * `work` on every engine that holds some of `vms`, at once, each within `ms` (the engine asked to
   * answer first): one group per engine. A group whose engine does not answer, or whose work fails
   * or runs out of time, carries the error; with one engine holding every VM, that error is thrown.
   */
  eachEngine<T>(vms: Vm[], what: string, ms: number, work: (engine: DockerRuntime, vms: Vm[]) => Promise<T>): Promise<EngineGroup<T>[]>;
  /** The network's scope for berth's VM network: `swarm` (made on the manager, a bridge on each node) or `local`. */
  readonly networkScope: 'local' | 'swarm';
  /** The addresses of the other hosts VMs run on, which a VM must not reach (none with one engine). */
  peerAddresses(runtime: DockerRuntime, state: State): Promise<string[]>;
  /** The nodes VMs may run on, where there are several (a Swarm); null with one engine. */
  readonly cluster: Cluster | null;
  /** Where users' apps are built and run (containers of their own beside the VMs). */
  readonly apps: AppEngines;
}

/**
 * Apps through the port: berth supervises their containers itself (it restarts them, gives them
 * their secrets), so the port says only where an app goes, which engine holds it, and which
 * network (under the VMs' firewall) it joins there.
 */
export interface AppEngines {
  /** Where a new app goes (a node with room, on a Swarm); undefined: the one engine. */
  place(resources: { cpu: number; memoryBytes: number }): Promise<string | undefined>;
  /** The engine of an app placed on `node`, answering within a deadline (else NODE_DOWN). */
  engine(node: string | undefined): Promise<DockerRuntime>;
  /** berth's VM network on that engine, made (with its firewall) where missing: the app's network. */
  network(runtime: DockerRuntime, node: string | undefined): Promise<string>;
  /** Makes sure an image on berth's own engine (an app base, an allowed image) is on `runtime` too. */
  provide(runtime: DockerRuntime, image: string): Promise<void>;
}

/**
 * A new home's quota filesystem, made ahead: while a create asks the engine and reserves the VM
 * (mkfs and debugfs take about as long), before the home has its id. `image` is where it is, null
 * when it could not be made (the home's own making then fails as it would have).
 */
export interface PreparedDisk {
  bytes: number;
  image: Promise<string | null>;
  taken: boolean;
}

/** The home a VM mounts, and whether it was made for this VM (to be removed with it if making fails). */
export interface HomeToMount {
  home: Home;
  fresh: boolean;
  instanceId: string;
  userId: string;
  /** A quota disk made ahead for a new home (prepareHomeDisk), taken when it is of the home's size. */
  prepared?: PreparedDisk;
}

export interface Deployed {
  containerId: string;
  /** The node it was placed on and is now pinned to (Swarm). */
  node?: string;
}

export interface Admission {
  /** What a VM gets here: its plan's resources, its home's quota, and how the rootfs limit holds. */
  resources(planned: Resources, home: Pick<Home, 'diskBytes'>): Resources;
  /** Refuses a new VM this backend cannot give what its plan asks for, or has no room for. */
  checkNew(state: State, resources: Resources, overcommit: number): void;
  /** Refuses rebuilding a VM with resources this backend cannot give. */
  checkRebuild(resources: Resources): void;
  /** Refuses starting a stopped VM there is no room for now. */
  checkStart(state: State, vm: Vm, overcommit: number): void;
}

/** One engine's part of `eachEngine`. */
export interface EngineGroup<T> {
  /** The node (Swarm), or undefined for the one engine / the manager. */
  node: string | undefined;
  vms: Vm[];
  result?: T;
  error?: unknown;
}

/** A Swarm: its manager, its nodes and their engines. */
export interface Cluster {
  /** The manager's Swarm API and its own node id (the node of VMs made before swarm mode). */
  manager(): Promise<{ api: SwarmApi; nodeId: string }>;
  /** The engine of a node (not yet asked whether it answers); the manager's own is berth's. */
  nodeEngine(nodeId: string | undefined): Promise<DockerRuntime>;
  /** The engine of a node, answering within the node deadline (else NODE_DOWN). */
  reachableEngine(nodeId: string | undefined, name?: string): Promise<DockerRuntime>;
  /** Checks (again, when old or `force`) each node's daemon defaults and records them. */
  checkNodes(nodes: SwarmNode[], force?: boolean): Promise<Map<string, NodeDefaults | undefined>>;
}
