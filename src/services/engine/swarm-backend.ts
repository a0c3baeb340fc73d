import type Docker from 'dockerode';
import { resolveEndpoint } from '../../docker/endpoints.js';
import { expectedHostConfig, hardeningDrift, NODE_PIN, vmServiceSpec } from '../../docker/hardening.js';
import { instanceFilter, LABEL } from '../../docker/labels.js';
import { DockerRuntime } from '../../docker/runtime.js';
import { SwarmApi, type SwarmNode, type SwarmTask } from '../../docker/swarm.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { NodeDefaults, Resources, State, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import type { Admission, AppEngines, Cluster, Deployed, EngineGroup, HomeToMount, VmBackend } from '../core/vm-backend.js';
import { ensureNodeFirewall, nodeAddresses } from '../network/firewall.js';
import { withDeadline } from './deadline.js';
import { NODE_DEADLINE_MS, NODE_FIREWALL_MS, probeNodeDefaults, reachable } from './engines.js';
import { releaseHome as releaseHomeAt } from './home-storage.js';
import { hostAdmission, localBackend, vmNetwork } from './local-backend.js';
import { nodesToPrepare, noGpuRoom, type PlacementFacts, type Prepared, placeVm } from './placement.js';

/**
 * A Swarm: the manager's engine places services (one replica each, pinned to the node that holds
 * the VM's home); each node's own engine runs its containers, so exec, logs, stats, files and
 * homes go there. A VM made before swarm mode (no node) is a container on the manager's engine,
 * run as the local backend runs it until it is rebuilt.
 */

/** How long a VM's task has to reach running. */
const TASK_DEADLINE_MS = 90_000;
/** How long node defaults found by a probe are trusted. */
const DEFAULTS_TTL_MS = 10 * 60_000;

/** Checks (again, when old) each node's daemon defaults and records them; returns the nodes berth may place VMs on. */
async function checkNodes(ctx: Berth, cluster: Cluster, nodes: SwarmNode[], force = false): Promise<Map<string, NodeDefaults | undefined>> {
  const state = await ctx.store.read();
  const image = effectiveConfig(state.config).image;
  const found = new Map<string, NodeDefaults | undefined>();
  await Promise.all(
    nodes.map(async (node) => {
      const known = state.nodes?.find((n) => n.id === node.id)?.defaults;
      if (!force && known && Date.now() - Date.parse(known.checkedAt) < DEFAULTS_TTL_MS) return found.set(node.id, known);
      if (node.state !== 'ready') return found.set(node.id, known);
      const defaults = await cluster
        .nodeEngine(node.id)
        .then((runtime) => reachable(runtime, node.hostname))
        .then((runtime) => withDeadline(40_000, 'run a check container', () => probeNodeDefaults(runtime, image, state.instanceId)))
        .catch(() => undefined);
      found.set(node.id, defaults ?? known);
    }),
  );
  await ctx.store.transact((st) => {
    for (const node of nodes) {
      const defaults = found.get(node.id);
      if (!defaults) continue;
      st.nodes ??= [];
      const entry = st.nodes.find((n) => n.id === node.id);
      if (entry) entry.defaults = defaults;
      else st.nodes.push({ id: node.id, hostname: node.hostname, endpoint: '', defaults });
    }
  });
  return found;
}

/** Waits for the service's newest task to run: its container and node, or the reason Swarm gives. */
async function runningTask(api: SwarmApi, service: string, ref: string, earlier: Set<string> = new Set()): Promise<SwarmTask> {
  const end = Date.now() + TASK_DEADLINE_MS;
  const started = Date.now();
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const fresh = (await api.tasks(service)).filter((t) => !earlier.has(t.id));
    // A task of this attempt that failed is the answer: Swarm would retry it (on another node,
    // making a home there each time) and only ever show the retry as pending.
    const failed = fresh.find((t) => t.state === 'failed' || t.state === 'rejected');
    if (failed) {
      throw new BerthError(
        'VM_TASK_FAILED',
        `Swarm could not run VM ${ref} on its node: ${failed.err || failed.message || failed.state}.`,
        'See berth node show and the node engine log.',
      );
    }
    const tasks = fresh.filter((t) => t.desiredState === 'running');
    const task = tasks[0];
    if (task?.state === 'running' && task.containerId) return task;
    const why = task ? task.err || task.message : 'no task yet';
    if (task && /no suitable node/i.test(why) && Date.now() - started > 3000) {
      throw new BerthError(
        'NO_NODE_FITS',
        `No Swarm node can take VM ${ref} now (${why}).`,
        'Free room on a node (stop or destroy VMs), add or activate a node, or pick a smaller plan.',
      );
    }
    if (task && ['rejected', 'failed'].includes(task.state)) {
      throw new BerthError(
        'VM_TASK_FAILED',
        `Swarm could not run VM ${ref} on its node: ${why}.`,
        'See berth node show and the node engine log.',
      );
    }
    if (Date.now() > end) {
      throw new BerthError(
        'ENGINE_TIMEOUT',
        `VM ${ref} was not running on Swarm within ${TASK_DEADLINE_MS / 1000} s (${why}).`,
        'See docker service ps on the manager.',
      );
    }
    await sleep(wait);
  }
}

async function noRunningTask(api: SwarmApi, service: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const tasks = await api.tasks(service);
    if (!tasks.some((t) => t.state === 'running' || t.desiredState === 'running')) return;
    if (Date.now() > end)
      throw new BerthError('ENGINE_TIMEOUT', `The VM service ${service} did not stop within 60 s.`, 'See docker service ps.');
    await sleep(wait);
  }
}

/** Waits (up to 30 s) until the node has removed the containers that mount this home. */
async function containersGone(runtime: DockerRuntime, home: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const left = await withDeadline(NODE_DEADLINE_MS, 'list containers', () => runtime.containers([`${LABEL.home}=${home}`])).catch(
      () => [],
    );
    if (left.length === 0) return;
    await sleep(300);
  }
}

/** Reads what the node's container shows of its hardening and compares it with the local spec. */
async function verifyHardening(runtime: DockerRuntime, containerId: string, expected: Docker.HostConfig): Promise<string[]> {
  // Every call to the node has a deadline: a node that accepts and then stalls fails the deploy (its service removed), never hangs it.
  const [details, host] = await withDeadline(NODE_DEADLINE_MS * 2, "inspect the VM's container on its node", () =>
    Promise.all([runtime.inspectContainer(containerId), runtime.hostInfo()]),
  );
  if (!details) return ['its container is gone'];
  let procStatus: string | null = null;
  try {
    const handle = await withDeadline(NODE_DEADLINE_MS * 2, 'read the VM process status', () =>
      runtime.exec(containerId, {
        cmd: ['cat', '/proc/1/status', '/proc/meminfo'],
        user: '0',
        workdir: '/',
        env: [],
        tty: false,
        stdin: false,
      }),
    );
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    runtime.demux(handle.stream, out, new PassThrough());
    const code = await withDeadline(15_000, 'read the VM process status', (signal) => handle.exitCode(signal));
    if (code === 0) procStatus = Buffer.concat(chunks).toString('utf8');
  } catch {
    procStatus = null;
  }
  return hardeningDrift(expected, {
    hostConfig: details.hostConfig,
    appArmorProfile: details.appArmorProfile,
    engineSecurity: host.securityOptions,
    procStatus,
    swapKb: procStatus === null ? null : Number(/SwapTotal:\s*(\d+)/.exec(procStatus)?.[1] ?? Number.NaN),
  });
}

/** Refuses, with the reason, a plan Swarm cannot serve. */
export function checkSwarmResources(r: Resources): void {
  const refuse = (what: string, hint: string) => {
    throw new BerthError('NOT_ON_SWARM', `This plan needs ${what}, which berth cannot give a VM on Swarm.`, hint);
  };
  if (r.sudo)
    refuse('sudo', 'Swarm nodes run with no-new-privileges as a daemon default, so sudo cannot work there: use a plan without --sudo.');
  if (r.gpu === 'all')
    refuse(
      'all GPUs of its node',
      'On Swarm a VM reserves a count of the GPUs its node advertises (node-generic-resources): use a plan with --gpu N.',
    );
  if (r.diskBytes) refuse('a home quota (a disk image on the node)', "Set the plan's --disk 0, or berth config set disk 0.");
  if (r.rootfsBytes) refuse('a limit on what it writes outside its home', "Set the plan's --rootfs 0, or berth config set rootfs 0.");
}

const serviceOf = (vm: Pick<Vm, 'id'>) => `berth-${vm.id}`;

/** A VM's Swarm service: made, checked, scaled and removed through the manager, its container on its node. */
class VmServices {
  constructor(
    private readonly ctx: Berth,
    private readonly cluster: Cluster,
  ) {}

  /**
   * The VM's container now: its running task's, which Swarm replaces when the VM's process exits or
   * its node restarts (the record follows).
   */
  async containerOf(vm: Vm): Promise<string | null> {
    const { api } = await this.cluster.manager();
    const task = (await withDeadline(NODE_DEADLINE_MS, 'list the VM task', () => api.tasks(serviceOf(vm)))).find(
      (t) => t.state === 'running' && t.containerId,
    );
    if (!task?.containerId || task.containerId === vm.containerId) return vm.containerId;
    const id = task.containerId;
    // Swarm made this container on its own (the VM's process ended, its node restarted), or a
    // deploy has not recorded it yet: it is checked as a deploy's is before anyone uses it; one
    // that lost hardening is removed; without its service nothing says what it must have.
    {
      const service = await withDeadline(NODE_DEADLINE_MS, 'inspect the VM service', () => api.service(serviceOf(vm)));
      if (!service) return null;
      const node = task.nodeId || vm.node;
      const runtime = await reachable(await this.cluster.nodeEngine(node), node ?? 'manager');
      const drift = await verifyHardening(runtime, id, expectedHostConfig(service.spec));
      if (drift.length) {
        await api.removeService(serviceOf(vm)).catch(() => undefined);
        await this.ctx.store.transact((st) => {
          const record = st.vms.find((v) => v.id === vm.id);
          if (record) {
            record.desired = 'stopped';
            record.containerId = null;
          }
        });
        throw hardeningLost(vm, node ?? 'manager', drift, true);
      }
    }
    await this.ctx.store.transact((st) => {
      const record = st.vms.find((v) => v.id === vm.id);
      if (record) record.containerId = id;
    });
    return id;
  }

  /**
   * Makes the VM's service from its local `docker create` request and waits for it to run: its
   * container, and the node it was placed on and is now pinned to. Removes what it made if it fails.
   */
  async deploy(
    vm: Vm,
    spec: Docker.ContainerCreateOptions,
    { homeNode, freshHome }: { homeNode?: string; freshHome: boolean },
  ): Promise<Deployed> {
    const { api, nodeId: self } = await this.cluster.manager();
    const nodes = await api.nodes();
    const state = await this.ctx.store.read();
    const defaults = await this.cluster.checkNodes(nodes.filter((n) => !homeNode || n.id === homeNode));
    const facts: PlacementFacts = { nodes, state, self, homeNode, defaults };
    const prepared = await prepareNodes(this.ctx, this.cluster, nodesToPrepare(facts), nodes, String(spec.HostConfig?.NetworkMode), self);
    const { constraints, gpus, gpuRoom: room } = placeVm(facts, vm, prepared);
    const service = vmServiceSpec(spec, { replicas: 1 });
    if (service.TaskTemplate?.Placement) service.TaskTemplate.Placement.Constraints = constraints;
    const name = serviceOf(vm);
    await api.createService(service);
    let placed: string | undefined;
    try {
      const task = await runningTask(api, name, vmRef(vm)).catch((err: unknown) => {
        throw gpus > 0 && err instanceof BerthError && err.code === 'NO_NODE_FITS'
          ? noGpuRoom(vm, gpus, 'Swarm found no node with that many free', room)
          : err;
      });
      placed = task.nodeId;
      // Pinned from now on: a constraint its own node meets does not move or restart the task.
      await api.updateService(name, (s) => {
        if (s.TaskTemplate?.Placement) s.TaskTemplate.Placement.Constraints = [`${NODE_PIN}==${task.nodeId}`];
      });
      const runtime = await reachable(await this.cluster.nodeEngine(task.nodeId), task.nodeId);
      const drift = await verifyHardening(runtime, task.containerId as string, spec.HostConfig ?? {});
      if (drift.length) {
        // What the node's daemon gives now is read again: a node that lost its defaults gets no further VM.
        await this.cluster
          .checkNodes(
            nodes.filter((n) => n.id === task.nodeId),
            true,
          )
          .catch(() => undefined);
        throw hardeningLost(vm, task.nodeId, drift);
      }
      return { containerId: task.containerId as string, node: task.nodeId };
    } catch (err) {
      // Every node a task of it went to (Swarm may have tried several) made the home's volume there.
      const tried = new Set((await api.tasks(name).catch(() => [])).map((t) => t.nodeId).filter(Boolean));
      if (placed) tried.add(placed);
      await api.removeService(name).catch(() => undefined);
      // A home volume a node made for this VM goes too, once the node has removed the container.
      if (freshHome) await Promise.all([...tried].map((node) => this.dropHomeVolume(node, vm, spec)));
      throw err;
    }
  }

  /** A fresh home's volume on a node that made it for a deploy that failed (a node that does not answer keeps it). */
  private async dropHomeVolume(node: string, vm: Vm, spec: Docker.ContainerCreateOptions): Promise<void> {
    const runtime = await this.cluster.reachableEngine(node).catch(() => null);
    if (!runtime) return;
    await containersGone(runtime, vm.home);
    await withDeadline(NODE_DEADLINE_MS, 'remove the home volume', () =>
      runtime.removeVolume(spec.HostConfig?.Mounts?.[0]?.Source as string),
    ).catch(() => undefined);
  }

  /** Scales the VM's service to one (berth's rules in place on its node first); its new container, checked. */
  async start(vm: Vm, spec: Docker.ContainerCreateOptions): Promise<string> {
    const { api, nodeId: self } = await this.cluster.manager();
    const name = serviceOf(vm);
    // Tasks of earlier runs (one that failed among them) are not this start's.
    const earlier = new Set((await withDeadline(NODE_DEADLINE_MS, 'list the VM tasks', () => api.tasks(name))).map((t) => t.id));
    if (vm.node && vm.node !== self) {
      // Fail closed: a VM starts on a node only with berth's rules in place there.
      const nodes = await withDeadline(NODE_DEADLINE_MS, 'list the Swarm nodes', () => api.nodes());
      const node = nodes.find((n) => n.id === vm.node) ?? { id: vm.node, hostname: vm.node };
      const runtime = await reachable(await this.cluster.nodeEngine(vm.node), node.hostname);
      await withDeadline(NODE_FIREWALL_MS, `install the firewall rules on node ${node.hostname}`, () =>
        ensureNodeFirewall(this.ctx, runtime, node, nodes),
      ).catch((err: unknown) => {
        throw firewallRefusal(node.hostname, err);
      });
    }
    await api.updateService(name, (s) => {
      s.Mode = { Replicated: { Replicas: 1 } };
    });
    const task = await runningTask(api, name, vmRef(vm), earlier);
    const runtime = await reachable(await this.cluster.nodeEngine(task.nodeId), task.nodeId);
    const drift = await verifyHardening(runtime, task.containerId as string, spec.HostConfig ?? {});
    if (drift.length) {
      await api.removeService(name).catch(() => undefined);
      throw hardeningLost(vm, task.nodeId, drift);
    }
    return task.containerId as string;
  }

  async stop(vm: Vm): Promise<void> {
    const { api } = await this.cluster.manager();
    const name = serviceOf(vm);
    // Scaled to none at the manager first (Swarm stops the task as soon as the node can): a node
    // that does not answer cannot stop it now, and the manager would show it running for as long
    // as berth waited, so that is NODE_DOWN within the node deadline rather than a long wait.
    await api.updateService(name, (s) => {
      s.Mode = { Replicated: { Replicas: 0 } };
    });
    await this.cluster.reachableEngine(vm.node);
    await noRunningTask(api, name);
  }

  async remove(vm: Vm): Promise<void> {
    const { api } = await this.cluster.manager();
    await api.removeService(serviceOf(vm));
    // The node removes the task's container after the service; the home volume can go only then.
    const runtime = await this.cluster.nodeEngine(vm.node).catch(() => null);
    if (runtime) await containersGone(runtime, vm.home);
  }
}

export function swarmBackend(ctx: Berth): VmBackend {
  const cluster = swarmCluster(ctx);
  const ops = new VmServices(ctx, cluster);
  // A VM made before swarm mode (no node) is a container on the manager's engine, run as one engine runs it.
  const local = localBackend(ctx);
  const onNode = (vm: Pick<Vm, 'node'>) => Boolean(vm.node);
  const self = async () => (await cluster.manager()).nodeId;
  return {
    networkScope: 'swarm',
    cluster,
    apps: swarmApps(ctx, cluster),
    engineOf: (vm) => cluster.reachableEngine(vm.node, vm.node ?? 'manager'),
    containerOf: (vm) => (onNode(vm) ? ops.containerOf(vm) : local.containerOf(vm)),
    isHere: async (vm) => !vm.node || vm.node === (await self()),
    peerAddresses: async (runtime, state) => nodeAddresses(await new SwarmApi(runtime).nodes(), endpointsOf(state)),
    admission: async () => {
      // Room is what Swarm's placement finds on the nodes (the plans' reservations); a VM made before
      // swarm mode starts on the manager's engine, with its room.
      const here = hostAdmission(await (await ctx.runtime()).hostInfo());
      return {
        resources: (planned, home) => ({ ...planned, diskBytes: home.diskBytes ?? 0, rootfsEnforced: undefined }),
        checkNew: (_state, resources) => checkSwarmResources(resources),
        checkRebuild: (resources) => checkSwarmResources(resources),
        checkStart: (state, vm, overcommit) => {
          if (!onNode(vm)) here.checkStart(state, vm, overcommit);
        },
      } satisfies Admission;
    },
    create: async (vm, spec, mount) => {
      // The home's volume is made by the node Swarm places the VM on (a kept home: the node that has it).
      await vmNetwork(ctx, await ctx.runtime(), 'swarm');
      const homeNode = mount.home.node ?? (mount.fresh ? undefined : await self());
      return ops.deploy(vm, spec, { homeNode, freshHome: mount.fresh });
    },
    redeploy: (vm, spec, mount) => redeploy(vm, spec, mount),
    start: (vm, spec) => (onNode(vm) ? ops.start(vm, spec) : local.start(vm, spec)),
    restart: async (vm, spec) => {
      if (!onNode(vm)) return local.restart(vm, spec);
      await ops.stop(vm);
      return ops.start(vm, spec);
    },
    stop: (vm, signal) => (onNode(vm) ? ops.stop(vm) : local.stop(vm, signal)),
    remove: (vm) => (onNode(vm) ? ops.remove(vm) : local.remove(vm)),
    workloadsMissing: async (vms) => {
      const placed = vms.filter(onNode);
      const gone = await local.workloadsMissing(vms.filter((vm) => !onNode(vm)));
      if (placed.length === 0) return gone;
      const { api } = await cluster.manager();
      const { instanceId } = await ctx.store.read();
      const services = await withDeadline(NODE_DEADLINE_MS * 2, 'list the VM services', () => api.services(instanceFilter(instanceId)));
      const names = new Set(services.map((s) => s.name));
      // A service berth removed itself (its container lost hardening: stopped, no container) is not drift.
      const removedByBerth = (vm: Vm) => vm.desired === 'stopped' && !vm.containerId;
      return [...gone, ...placed.filter((vm) => !names.has(serviceOf(vm)) && !removedByBerth(vm))];
    },
    releaseHome: async (vm, home, options) => {
      const runtime = await cluster.reachableEngine(vm.node ?? home.node);
      await releaseHomeAt(ctx, runtime, home, options);
    },
    eachEngine: (vms, what, ms, work) => eachNode(cluster, vms, what, ms, work),
  };

  /**
   * The VM's service made again from its record (home kept), pinned to the node with its home; a VM
   * made before swarm mode (a container on the manager) becomes a service there.
   */
  async function redeploy(vm: Vm, spec: Docker.ContainerCreateOptions, mount: HomeToMount): Promise<Deployed> {
    const homeNode = vm.node ?? mount.home.node ?? (await self());
    if (vm.node) await ops.remove(vm);
    else if (vm.containerId) await (await ctx.runtime()).removeContainer(vm.containerId);
    await vmNetwork(ctx, await ctx.runtime(), 'swarm');
    const deployed = await ops.deploy(vm, spec, { homeNode, freshHome: false });
    if (vm.desired !== 'running') await ops.stop({ ...vm, node: deployed.node, containerId: deployed.containerId });
    return deployed;
  }
}

/**
 * Apps on a Swarm: berth places each on a node (the most memory left after what its VMs reserve
 * and its apps are limited to) and runs it as a container of that node's engine, attached to the
 * Swarm-scoped VM network (made attachable), under that node's firewall; berth supervises it as on
 * one engine. Images the node lacks (an app base, an allowed image) are copied from the manager.
 */
function swarmApps(ctx: Berth, cluster: Cluster): AppEngines {
  const network = async () => effectiveConfig((await ctx.store.read()).config)['docker.network'];
  return {
    place: async (resources) => {
      const state = await ctx.store.read();
      const { api } = await cluster.manager();
      const drained = new Set((state.nodes ?? []).filter((n) => n.drained).map((n) => n.id));
      const nodes = (await withDeadline(NODE_DEADLINE_MS * 2, 'list the Swarm nodes', () => api.nodes())).filter(
        (n) => n.state === 'ready' && n.availability === 'active' && !drained.has(n.id),
      );
      const used = new Map<string, number>();
      for (const vm of state.vms)
        if (vm.node && vm.desired === 'running') used.set(vm.node, (used.get(vm.node) ?? 0) + vm.resources.memoryBytes);
      for (const app of state.apps ?? [])
        if (app.node && app.desired === 'running') used.set(app.node, (used.get(app.node) ?? 0) + app.resources.memoryBytes);
      const room = nodes
        .map((n) => ({ node: n, free: n.memoryBytes - (used.get(n.id) ?? 0) }))
        .filter((r) => r.free >= resources.memoryBytes && r.node.cpus >= resources.cpu)
        // Most room first; at equal room a worker before a manager (which runs berth and the cluster's control).
        .sort((a, b) => b.free - a.free || Number(a.node.role === 'manager') - Number(b.node.role === 'manager'));
      const best = room[0];
      if (!best)
        throw new BerthError(
          'NO_NODE_FITS',
          `No Swarm node has room for an app of ${Math.round(resources.memoryBytes / 2 ** 20)} MiB.`,
          'Stop some apps or VMs, add a node, or give the plan smaller app limits (berth plan set PLAN --app-ram SIZE).',
        );
      return best.node.id;
    },
    engine: (node) => cluster.reachableEngine(node, node ?? 'manager'),
    network: async (runtime, node) => {
      const name = await network();
      const manager = await ctx.runtime();
      await vmNetwork(ctx, manager, 'swarm');
      const made = await manager.network(name);
      if (!made?.attachable)
        throw new BerthError(
          'APPS_NOT_ON_SWARM',
          `The VM network ${name} was made before apps and does not let berth's app containers join it.`,
          `When no VM runs, remove it on the manager (docker network rm ${name}); berth makes it again, attachable. Or point docker.network at a new name.`,
        );
      const { api, nodeId } = await cluster.manager();
      if (node && node !== nodeId) {
        const nodes = await withDeadline(NODE_DEADLINE_MS * 2, 'list the Swarm nodes', () => api.nodes());
        const here = nodes.find((n) => n.id === node);
        await withDeadline(NODE_DEADLINE_MS * 2, 'make the VM network', () =>
          runtime.ensureConfigNetwork(name, { [LABEL.managed]: 'true' }),
        );
        if (here && here.id !== nodeId)
          await withDeadline(NODE_FIREWALL_MS, `install the firewall rules on node ${here.hostname}`, () =>
            ensureNodeFirewall(ctx, runtime, here, nodes),
          );
      }
      return name;
    },
    provide: async (runtime, image) => {
      if (await runtime.image(image)) return;
      const manager = await ctx.runtime();
      if (!(await manager.image(image)))
        throw new BerthError('IMAGE_NOT_FOUND', `The image ${image} is not on the manager's engine.`, 'Build or load it there first.');
      await runtime.loadImage(await manager.exportImage(image));
    },
  };
}

const endpointsOf = (state: State) => (state.nodes ?? []).map((n) => n.endpoint).filter(Boolean);

/** `work` on each node's engine at once (VMs without a node: the manager's), each answering first and within `ms`. */
async function eachNode<T>(
  cluster: Cluster,
  vms: Vm[],
  what: string,
  ms: number,
  work: (engine: DockerRuntime, vms: Vm[]) => Promise<T>,
): Promise<EngineGroup<T>[]> {
  const byNode = new Map<string, Vm[]>();
  for (const vm of vms) byNode.set(vm.node ?? '', [...(byNode.get(vm.node ?? '') ?? []), vm]);
  return Promise.all(
    [...byNode].map(async ([node, group]): Promise<EngineGroup<T>> => {
      const at = { node: node || undefined, vms: group };
      try {
        const engine = await cluster.reachableEngine(node || undefined, node || 'manager');
        return { ...at, result: await withDeadline(ms, what, () => work(engine, group)) };
      } catch (error) {
        return { ...at, error };
      }
    }),
  );
}

/**
 * Each node that may take the VM gets the config network its VM network's bridge takes its options
 * from, and (the manager's are made by the caller) berth's firewall rules; what failed where.
 */
async function prepareNodes(
  ctx: Berth,
  cluster: Cluster,
  targets: SwarmNode[],
  nodes: SwarmNode[],
  network: string,
  self: string,
): Promise<Prepared> {
  const prepared: Prepared = { noNetwork: new Set(), firewallFailed: new Map() };
  await Promise.all(
    targets.map(async (n) => {
      const runtime = await cluster.reachableEngine(n.id, n.hostname).catch(() => null);
      const made =
        runtime &&
        (await withDeadline(NODE_DEADLINE_MS * 2, 'make the VM network', () =>
          runtime.ensureConfigNetwork(network, { [LABEL.managed]: 'true' }),
        )
          .then(() => true)
          .catch(() => false));
      if (!runtime || !made) return prepared.noNetwork.add(n.id);
      if (n.id === self) return;
      await withDeadline(NODE_FIREWALL_MS, `install the firewall rules on node ${n.hostname}`, () =>
        ensureNodeFirewall(ctx, runtime, n, nodes),
      ).catch((err: unknown) => {
        prepared.firewallFailed.set(n.id, firewallRefusal(n.hostname, err));
      });
    }),
  );
  return prepared;
}

/** A node whose firewall rules could not be made takes no VM: why, in the error's own words. */
function firewallRefusal(hostname: string, err: unknown): BerthError {
  const e = err instanceof BerthError ? err : null;
  return new BerthError(
    'NODE_FIREWALL_FAILED',
    `berth's firewall rules could not be installed on node ${hostname}, so it takes no VM: ${e?.message ?? String(err)}`,
    e?.hint ?? 'berth network status shows each node; fix it, or berth config set network.firewall off to run without isolation.',
  );
}

function hardeningLost(vm: Vm, node: string, drift: string[], kept = false): BerthError {
  return new BerthError(
    'HARDENING_LOST',
    kept
      ? `VM ${vmRef(vm)} was stopped and its service removed: the container Swarm made for it on node ${node} lacks hardening berth requires (${drift.join('; ')}).`
      : `VM ${vmRef(vm)} was removed: its container on node ${node} lacks hardening berth requires (${drift.join('; ')}).`,
    kept
      ? `Its home is kept. Fix the node's daemon (berth node show NODE says what to set), then berth vm rebuild ${vmRef(vm)}, or move it: berth vm move ${vmRef(vm)} --to NODE.`
      : "Fix the node's daemon (berth node show NODE says what to set) or drain it, then create the VM again.",
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The Swarm as this context sees it: the manager (asked once; asked again after a failure) and one
 * engine client per node and endpoint, bounded by the nodes berth knows.
 */
export function swarmCluster(ctx: Berth): Cluster {
  let manager: Promise<{ api: SwarmApi; nodeId: string }> | undefined;
  const engines = new Map<string, DockerRuntime>();
  const cluster: Cluster = {
    manager: () => {
      manager ??= ctx.runtime().then(async (runtime) => {
        const api = new SwarmApi(runtime);
        const self = await api.self();
        if (!self.manager) {
          throw new BerthError(
            'NOT_A_SWARM_MANAGER',
            `berth config engine is swarm, but the engine at ${runtime.address} is not a Swarm manager (${self.state}).`,
            'Run berth on a manager (docker swarm init / join as manager), or set berth config engine local.',
          );
        }
        return { api, nodeId: self.nodeId };
      });
      manager.catch(() => {
        manager = undefined;
      });
      return manager;
    },
    nodeEngine: async (nodeId) => {
      const { nodeId: self } = await cluster.manager();
      if (!nodeId || nodeId === self) return ctx.runtime();
      const entry = (await ctx.store.read()).nodes?.find((n) => n.id === nodeId);
      if (!entry?.endpoint) {
        throw new BerthError(
          'NODE_ENGINE_UNKNOWN',
          `berth does not know how to reach the engine of node ${entry?.hostname ?? nodeId}.`,
          `Tell it: berth node engine ${entry?.hostname ?? nodeId} ENDPOINT (a Docker context, ssh://USER@HOST or tcp://HOST:2376)`,
        );
      }
      const key = `${nodeId} ${entry.endpoint} ${entry.tlsDir ?? ''}`;
      const known = engines.get(key);
      if (known) return known;
      const { address, tls } = await resolveEndpoint(entry.endpoint, entry.tlsDir);
      const runtime = DockerRuntime.at(address, tls);
      for (const k of engines.keys()) if (k.startsWith(`${nodeId} `)) engines.delete(k);
      engines.set(key, runtime);
      return runtime;
    },
    reachableEngine: async (nodeId, name) => reachable(await cluster.nodeEngine(nodeId), name ?? nodeId ?? 'manager'),
    checkNodes: (nodes, force) => checkNodes(ctx, cluster, nodes, force),
  };
  return cluster;
}
