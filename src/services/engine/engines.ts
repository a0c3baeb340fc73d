import type Docker from 'dockerode';
import { resolveEndpoint } from '../../docker/endpoints.js';
import { expectedHostConfig, GPU_KIND, hardeningDrift, NODE_PIN, vmServiceSpec } from '../../docker/hardening.js';
import { LABEL } from '../../docker/labels.js';
import { DockerRuntime } from '../../docker/runtime.js';
import { SwarmApi, type SwarmNode, type SwarmTask } from '../../docker/swarm.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { NodeDefaults, NodeEngine, Resources, State, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { ensureNodeFirewall } from '../network/firewall.js';
import { withDeadline } from './deadline.js';

/**
 * The seam between berth's VMs and what runs them. `local`: one Docker engine, a VM is a
 * container. `swarm`: the manager's engine places services (one replica each, pinned to the node
 * that holds the VM's home); each node's own engine runs its containers, so exec, logs, stats,
 * files and homes go there. A later backend (Kubernetes) implements the same interface.
 */
export interface VmBackend {
  readonly mode: 'local' | 'swarm';
  /** The engine that holds this VM's container and home, answering within a deadline (else NODE_DOWN). */
  engineOf(vm: Pick<Vm, 'node'>): Promise<DockerRuntime>;
  /**
   * The VM's container now: the record's, or (swarm) its running task's, which Swarm replaces
   * when the VM's process exits or its node restarts (the record follows).
   */
  containerOf(vm: Vm): Promise<string | null>;
  /** Refuses, with the reason, a VM this backend cannot give what its plan asks for. */
  checkResources(resources: Resources): void;
  /**
   * Makes the VM's workload from its local `docker create` request and starts it: its container,
   * and (swarm) the node it was placed on and is now pinned to. Removes what it made if it fails.
   */
  deploy(
    vm: Vm,
    spec: Docker.ContainerCreateOptions,
    home: { homeNode?: string; freshHome: boolean },
  ): Promise<{ containerId: string; node?: string }>;
  /** Starts a made VM (`spec`: its local create request, the hardening its container must have); its container id (a new one on swarm). */
  start(vm: Vm, spec: Docker.ContainerCreateOptions): Promise<string>;
  stop(vm: Vm): Promise<void>;
  /** Removes the VM's workload (the home stays). */
  remove(vm: Vm): Promise<void>;
}

/** How long a node's engine has to answer before its VMs count as node-down. */
export const NODE_DEADLINE_MS = 5_000;
/** How long a VM's task has to reach running. */
const TASK_DEADLINE_MS = 90_000;
/** How long node defaults found by a probe are trusted. */
const DEFAULTS_TTL_MS = 10 * 60_000;

export function engineMode(state: State): 'local' | 'swarm' {
  return effectiveConfig(state.config).engine;
}

export function nodeDown(node: string, detail: string): BerthError {
  return new BerthError(
    'NODE_DOWN',
    `The engine of node ${node} does not answer (${detail}); its VMs cannot be reached now.`,
    'Check the node (docker node ls on the manager) and how berth reaches it: berth node show NODE.',
  );
}

/** The engine answers within `ms`, or NODE_DOWN. */
export async function reachable(runtime: DockerRuntime, node: string, ms = NODE_DEADLINE_MS): Promise<DockerRuntime> {
  await withDeadline(ms, 'answer', () => runtime.version()).catch((err: unknown) => {
    throw nodeDown(node, err instanceof BerthError ? err.message : String(err));
  });
  return runtime;
}

const localBackends = new WeakMap<Berth, VmBackend>();

export function localBackend(ctx: Berth): VmBackend {
  const known = localBackends.get(ctx);
  if (known) return known;
  const backend: VmBackend = {
    mode: 'local',
    engineOf: () => ctx.runtime(),
    containerOf: async (vm) => vm.containerId,
    checkResources: () => undefined,
    deploy: async (_vm, spec) => {
      const runtime = await ctx.runtime();
      const containerId = await runtime.createContainer(spec);
      try {
        await runtime.startContainer(containerId);
      } catch (err) {
        await runtime.removeContainer(containerId).catch(() => undefined);
        throw err;
      }
      return { containerId };
    },
    start: async (vm) => {
      await (await ctx.runtime()).startContainer(vm.containerId as string);
      return vm.containerId as string;
    },
    stop: async (vm) => (await ctx.runtime()).stopContainer(vm.containerId as string),
    remove: async (vm) => {
      if (vm.containerId) await (await ctx.runtime()).removeContainer(vm.containerId);
    },
  };
  localBackends.set(ctx, backend);
  return backend;
}

interface SwarmCache {
  manager: Promise<{ api: SwarmApi; nodeId: string }>;
  engines: Map<string, DockerRuntime>;
}
const swarmCaches = new WeakMap<Berth, SwarmCache>();

function swarmCache(ctx: Berth): SwarmCache {
  let cache = swarmCaches.get(ctx);
  if (!cache) {
    cache = {
      manager: ctx.runtime().then(async (runtime) => {
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
      }),
      engines: new Map(),
    };
    cache.manager.catch(() => swarmCaches.delete(ctx));
    swarmCaches.set(ctx, cache);
  }
  return cache;
}

/** The manager's Swarm API and its own node id (the node of VMs made before swarm mode). */
export function swarmManager(ctx: Berth): Promise<{ api: SwarmApi; nodeId: string }> {
  return swarmCache(ctx).manager;
}

/** The engine of a node (not yet asked whether it answers); the manager's own is berth's. */
export async function nodeEngine(ctx: Berth, nodeId: string | undefined): Promise<DockerRuntime> {
  const { nodeId: self } = await swarmManager(ctx);
  if (!nodeId || nodeId === self) return ctx.runtime();
  const cache = swarmCache(ctx);
  const entry = (await ctx.store.read()).nodes?.find((n) => n.id === nodeId);
  if (!entry?.endpoint) {
    throw new BerthError(
      'NODE_ENGINE_UNKNOWN',
      `berth does not know how to reach the engine of node ${entry?.hostname ?? nodeId}.`,
      `Tell it: berth node engine ${entry?.hostname ?? nodeId} ENDPOINT (a Docker context, ssh://USER@HOST or tcp://HOST:2376)`,
    );
  }
  const key = `${nodeId} ${entry.endpoint} ${entry.tlsDir ?? ''}`;
  const known = cache.engines.get(key);
  if (known) return known;
  const { address, tls } = await resolveEndpoint(entry.endpoint, entry.tlsDir);
  const runtime = DockerRuntime.at(address, tls);
  // Bounded by the nodes berth knows: one client per node (and endpoint).
  for (const k of cache.engines.keys()) if (k.startsWith(`${nodeId} `)) cache.engines.delete(k);
  cache.engines.set(key, runtime);
  return runtime;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a node's daemon gives every container by default: read from inside a throw-away container. */
export async function probeNodeDefaults(runtime: DockerRuntime, image: string, instanceId: string): Promise<NodeDefaults> {
  const script =
    "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; printf 'AppArmor:\\t%s\\n' \"$(cat /proc/self/attr/current 2>/dev/null)\"";
  const [host, run] = await Promise.all([
    runtime.hostInfo(),
    runtime.runOnce(
      {
        Image: image,
        Entrypoint: ['/bin/sh'],
        Cmd: ['-c', script],
        User: '65534',
        Labels: { [LABEL.managed]: 'true', [LABEL.instance]: instanceId },
        HostConfig: { NetworkMode: 'none', CapDrop: ['ALL'], AutoRemove: false },
      },
      30_000,
    ),
  ]);
  // Not anchored: the engine's log frame headers may leave a byte before each line.
  const field = (name: string) => new RegExp(`${name}:[ \\t]*([^\\n]*)`).exec(run.output)?.[1]?.trim() ?? '';
  const hasAppArmor = host.securityOptions.some((o) => o.includes('name=apparmor'));
  return {
    noNewPrivileges: field('NoNewPrivs') === '1',
    seccomp: field('Seccomp') === '2',
    apparmor: hasAppArmor ? !['', 'unconfined'].includes(field('AppArmor')) : null,
    checkedAt: new Date().toISOString(),
  };
}

/** What a node lacks of what every VM needs from its daemon, in words (empty: fit). */
export function defaultsMissing(d: NodeDefaults | undefined): string[] {
  if (!d) return ['its daemon defaults were not checked yet'];
  const missing: string[] = [];
  if (!d.noNewPrivileges) missing.push('"no-new-privileges": true in /etc/docker/daemon.json');
  if (!d.seccomp) missing.push('the default seccomp profile (no "seccomp-profile": "unconfined")');
  if (d.apparmor === false) missing.push('the default AppArmor profile (docker-default)');
  return missing;
}

/** Checks (again, when old) each node's daemon defaults and records them; returns the nodes berth may place VMs on. */
export async function checkNodes(ctx: Berth, nodes: SwarmNode[], force = false): Promise<Map<string, NodeDefaults | undefined>> {
  const state = await ctx.store.read();
  const image = effectiveConfig(state.config).image;
  const found = new Map<string, NodeDefaults | undefined>();
  await Promise.all(
    nodes.map(async (node) => {
      const known = state.nodes?.find((n) => n.id === node.id)?.defaults;
      if (!force && known && Date.now() - Date.parse(known.checkedAt) < DEFAULTS_TTL_MS) return found.set(node.id, known);
      if (node.state !== 'ready') return found.set(node.id, known);
      const defaults = await nodeEngine(ctx, node.id)
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
async function runningTask(api: SwarmApi, service: string, ref: string): Promise<SwarmTask> {
  const end = Date.now() + TASK_DEADLINE_MS;
  const started = Date.now();
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const tasks = (await api.tasks(service)).filter((t) => t.desiredState === 'running');
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

export function swarmBackend(ctx: Berth): VmBackend {
  const serviceOf = (vm: Pick<Vm, 'id'>) => `berth-${vm.id}`;
  const backend: VmBackend = {
    mode: 'swarm',
    engineOf: async (vm) => reachable(await nodeEngine(ctx, vm.node), vm.node ?? 'manager'),
    containerOf: async (vm) => {
      const { api } = await swarmManager(ctx);
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
        const runtime = await reachable(await nodeEngine(ctx, node), node ?? 'manager');
        const drift = await verifyHardening(runtime, id, expectedHostConfig(service.spec));
        if (drift.length) {
          await api.removeService(serviceOf(vm)).catch(() => undefined);
          await ctx.store.transact((st) => {
            const record = st.vms.find((v) => v.id === vm.id);
            if (record) {
              record.desired = 'stopped';
              record.containerId = null;
            }
          });
          throw hardeningLost(vm, node ?? 'manager', drift, true);
        }
      }
      await ctx.store.transact((st) => {
        const record = st.vms.find((v) => v.id === vm.id);
        if (record) record.containerId = id;
      });
      return id;
    },
    checkResources: (r) => {
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
    },
    deploy: async (vm, spec, { homeNode, freshHome }) => {
      const { api } = await swarmManager(ctx);
      const nodes = await api.nodes();
      const state = await ctx.store.read();
      const defaults = await checkNodes(
        ctx,
        nodes.filter((n) => !homeNode || n.id === homeNode),
      );
      const { nodeId: self } = await swarmManager(ctx);
      const entry = (n: SwarmNode) => state.nodes?.find((e) => e.id === n.id);
      // Nodes berth cannot reach, whose daemon lacks the defaults, or that berth drained get no new VM.
      const unfit = (n: SwarmNode) =>
        defaultsMissing(defaults.get(n.id)).length > 0 ||
        (n.id !== self && !entry(n)?.endpoint) ||
        (!homeNode && Boolean(entry(n)?.drained));
      // Each node that may take the VM needs the config network its VM network's bridge takes its
      // options from, and (the manager's are made by the caller) berth's firewall rules.
      const network = String(spec.HostConfig?.NetworkMode);
      const noNetwork = new Set<string>();
      const firewallFailed = new Map<string, BerthError>();
      await Promise.all(
        nodes
          .filter((n) => !unfit(n) && (!homeNode || n.id === homeNode) && n.state === 'ready')
          .map(async (n) => {
            const runtime = await nodeEngine(ctx, n.id)
              .then((r) => reachable(r, n.hostname))
              .catch(() => null);
            const made =
              runtime &&
              (await withDeadline(NODE_DEADLINE_MS * 2, 'make the VM network', () =>
                runtime.ensureConfigNetwork(network, { [LABEL.managed]: 'true' }),
              )
                .then(() => true)
                .catch(() => false));
            if (!runtime || !made) return noNetwork.add(n.id);
            if (n.id === self) return;
            await withDeadline(NODE_FIREWALL_MS, `install the firewall rules on node ${n.hostname}`, () =>
              ensureNodeFirewall(ctx, runtime, n, nodes),
            ).catch((err: unknown) => {
              firewallFailed.set(n.id, firewallRefusal(n.hostname, err));
            });
          }),
      );
      const homeFirewall = homeNode ? firewallFailed.get(homeNode) : undefined;
      if (homeFirewall) throw homeFirewall;
      const service = vmServiceSpec(spec, { replicas: 1 });
      const excluded = nodes.filter((n) => unfit(n) || noNetwork.has(n.id) || firewallFailed.has(n.id) || n.state !== 'ready');
      // Nowhere to go, and firewall rules are why: that is the error, not Swarm's "no suitable node".
      const [firewallError] = firewallFailed.values();
      if (firewallError && excluded.length === nodes.length) throw firewallError;
      const constraints = homeNode ? [`${NODE_PIN}==${homeNode}`] : excluded.map((n) => `${NODE_PIN}!=${n.id}`);
      if (homeNode && nodes.some((n) => n.id === homeNode && unfit(n))) {
        throw new BerthError(
          'NODE_UNFIT',
          `The home of VM ${vmRef(vm)} is on node ${homeNode}, which cannot take VMs: ${defaultsMissing(defaults.get(homeNode)).join('; ') || 'berth cannot reach its engine'}.`,
          'Fix the node (berth node show), then try again.',
        );
      }
      if (service.TaskTemplate?.Placement) service.TaskTemplate.Placement.Constraints = constraints;
      // GPUs: Swarm places by the reservation; a VM no node could ever hold is refused before anything is made.
      const gpus = vm.resources.gpu === 'all' ? 0 : vm.resources.gpu;
      const candidates = nodes.filter((n) => !excluded.includes(n) && (!homeNode || n.id === homeNode));
      const room = gpus > 0 ? gpuRoom(state, candidates, self) : '';
      if (gpus > 0 && !candidates.some((n) => (n.generic[GPU_KIND] ?? 0) >= gpus))
        throw noGpuRoom(vm, gpus, 'no node that may take it advertises that many', room);
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
        const runtime = await reachable(await nodeEngine(ctx, task.nodeId), task.nodeId);
        const drift = await verifyHardening(runtime, task.containerId as string, spec.HostConfig ?? {});
        if (drift.length) {
          // What the node's daemon gives now is read again: a node that lost its defaults gets no further VM.
          await checkNodes(
            ctx,
            nodes.filter((n) => n.id === task.nodeId),
            true,
          ).catch(() => undefined);
          throw hardeningLost(vm, task.nodeId, drift);
        }
        return { containerId: task.containerId as string, node: task.nodeId };
      } catch (err) {
        await api.removeService(name).catch(() => undefined);
        // A home volume the node made for this VM goes too, once the node has removed the container.
        if (placed && freshHome) {
          const runtime = await nodeEngine(ctx, placed).catch(() => null);
          if (runtime) {
            await containersGone(runtime, vm.home);
            await withDeadline(NODE_DEADLINE_MS, 'remove the home volume', () =>
              runtime.removeVolume(spec.HostConfig?.Mounts?.[0]?.Source as string),
            ).catch(() => undefined);
          }
        }
        throw err;
      }
    },
    start: async (vm, spec) => {
      const { api, nodeId: self } = await swarmManager(ctx);
      const name = serviceOf(vm);
      if (vm.node && vm.node !== self) {
        // Fail closed: a VM starts on a node only with berth's rules in place there.
        const nodes = await withDeadline(NODE_DEADLINE_MS, 'list the Swarm nodes', () => api.nodes());
        const node = nodes.find((n) => n.id === vm.node) ?? { id: vm.node, hostname: vm.node };
        const runtime = await reachable(await nodeEngine(ctx, vm.node), node.hostname);
        await withDeadline(NODE_FIREWALL_MS, `install the firewall rules on node ${node.hostname}`, () =>
          ensureNodeFirewall(ctx, runtime, node, nodes),
        ).catch((err: unknown) => {
          throw firewallRefusal(node.hostname, err);
        });
      }
      await api.updateService(name, (s) => {
        s.Mode = { Replicated: { Replicas: 1 } };
      });
      const task = await runningTask(api, name, vmRef(vm));
      const runtime = await reachable(await nodeEngine(ctx, task.nodeId), task.nodeId);
      const drift = await verifyHardening(runtime, task.containerId as string, spec.HostConfig ?? {});
      if (drift.length) {
        await api.removeService(name).catch(() => undefined);
        throw hardeningLost(vm, task.nodeId, drift);
      }
      return task.containerId as string;
    },
    stop: async (vm) => {
      const { api } = await swarmManager(ctx);
      const name = serviceOf(vm);
      await api.updateService(name, (s) => {
        s.Mode = { Replicated: { Replicas: 0 } };
      });
      await noRunningTask(api, name);
    },
    remove: async (vm) => {
      const { api } = await swarmManager(ctx);
      await api.removeService(serviceOf(vm));
      // The node removes the task's container after the service; the home volume can go only then.
      const runtime = await nodeEngine(ctx, vm.node).catch(() => null);
      if (runtime) await containersGone(runtime, vm.home);
    },
  };
  return backend;
}

/** Each node's GPUs as berth's VMs hold them, reserved/advertised: `node2 1/2, node3 0/0`. */
function gpuRoom(state: State, nodes: SwarmNode[], self: string): string {
  const reserved = (n: SwarmNode) =>
    state.vms
      .filter((v) => (v.node ?? self) === n.id && v.desired === 'running' && v.phase === 'ready')
      .reduce((sum, v) => sum + (v.resources.gpu === 'all' ? 0 : v.resources.gpu), 0);
  return nodes.map((n) => `${n.hostname} ${reserved(n)}/${n.generic[GPU_KIND] ?? 0}`).join(', ') || 'none';
}

function noGpuRoom(vm: Vm, gpus: number, why: string, room: string): BerthError {
  return new BerthError(
    'NO_NODE_FITS',
    `No Swarm node can take VM ${vmRef(vm)} now: it reserves ${gpus} GPU(s), and ${why} (GPUs reserved by berth's VMs/advertised: ${room}).`,
    'Stop or destroy a VM that holds GPUs, add GPUs to a node (node-generic-resources in its daemon.json, see the README), or use a plan with fewer GPUs.',
  );
}

/** How long installing (or checking) berth's rules on a node may take: a few tool containers there. */
export const NODE_FIREWALL_MS = 60_000;

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

/** The backend new VMs get with this berth home's config. */
export async function backendOf(ctx: Berth): Promise<VmBackend> {
  return engineMode(await ctx.store.read()) === 'swarm' ? swarmBackend(ctx) : localBackend(ctx);
}

/**
 * The backend of one VM: a Swarm service when it has a node; a VM made before swarm mode (no node)
 * is a container on the manager's engine, adopted as it is until it is rebuilt.
 */
export async function backendFor(ctx: Berth, vm: Pick<Vm, 'node'>): Promise<VmBackend> {
  return vm.node && engineMode(await ctx.store.read()) === 'swarm' ? swarmBackend(ctx) : localBackend(ctx);
}

/** The stored engine entry of a node, by id or hostname. */
export function nodeEntry(state: State, nodeId: string): NodeEngine | undefined {
  return state.nodes?.find((n) => n.id === nodeId);
}
