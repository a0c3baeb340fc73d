import type Docker from 'dockerode';
import { instanceFilter, LABEL } from '../../docker/labels.js';
import type { DockerRuntime, HostInfo } from '../../docker/runtime.js';
import { checkCapacity, checkCpus, checkGpu } from '../../domain/policies.js';
import { BerthError } from '../../errors.js';
import type { Home, Resources, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import type { Admission, Deployed, HomeToMount, VmBackend } from '../core/vm-backend.js';
import { ensureFirewall } from '../network/firewall.js';
import { withDeadline } from './deadline.js';
import { containerMissing } from './engines.js';
import { attachHome, provisionHome, releaseHome } from './home-storage.js';

/** How the rootfs limit holds on this engine: overlay2 on XFS takes `--storage-opt size=`. */
function rootfsEnforcement(host: HostInfo): 'engine' | 'measured' {
  return host.storageDriver === 'overlay2' && host.backingFilesystem === 'xfs' ? 'engine' : 'measured';
}

/** Room on the one host: its CPUs, its GPU runtime, and its memory × overcommit for VMs that run. */
export function hostAdmission(host: HostInfo): Admission {
  return {
    resources: (planned: Resources, home: Pick<Home, 'diskBytes'>) => ({
      ...planned,
      diskBytes: home.diskBytes ?? 0,
      rootfsEnforced: planned.rootfsBytes ? rootfsEnforcement(host) : undefined,
    }),
    checkNew: (state, resources, overcommit) => {
      checkCpus(resources, host.cpus);
      checkGpu(resources, host.runtimes);
      checkCapacity(state, resources, host.memoryBytes, overcommit);
    },
    checkRebuild: (resources) => {
      checkCpus(resources, host.cpus);
      checkGpu(resources, host.runtimes);
    },
    checkStart: (state, vm, overcommit) => checkCapacity(state, vm, host.memoryBytes, overcommit),
  };
}

/**
 * `act` on the VM's container, without asking first whether it is there (no inspect per VM: a
 * bulk action makes one engine call per VM): the engine's "no such container" is the check.
 */
async function onContainer(vm: Vm, act: (id: string) => Promise<void>): Promise<string> {
  const id = vm.containerId;
  if (!id) throw containerMissing(vm);
  await act(id).catch((err: unknown) => {
    throw err instanceof BerthError && /no such container/i.test(err.message) ? containerMissing(vm) : err;
  });
  return id;
}

/** berth's VM network on this engine (`scope`), and the host firewall's rules for it (fail closed unless network.firewall is off). */
export async function vmNetwork(ctx: Berth, runtime: DockerRuntime, scope: 'local' | 'swarm'): Promise<void> {
  const network = effectiveConfig((await ctx.store.read()).config)['docker.network'];
  await runtime.ensureNetwork(network, { [LABEL.managed]: 'true' }, scope);
  await ensureFirewall(ctx, runtime);
}

/** One Docker engine: a VM is a container on it, its home a volume (on a quota disk image) of this host. */
export function localBackend(ctx: Berth): VmBackend {
  const engine = () => ctx.runtime();
  const backend: VmBackend = {
    networkScope: 'local',
    cluster: null,
    engineOf: engine,
    containerOf: async (vm) => vm.containerId,
    isHere: async () => true,
    peerAddresses: async () => [],
    apps: {
      place: async () => undefined,
      engine: async () => engine(),
      network: async (runtime) => {
        await vmNetwork(ctx, runtime, 'local');
        return effectiveConfig((await ctx.store.read()).config)['docker.network'];
      },
      provide: async () => undefined,
    },
    admission: async () => hostAdmission(await (await engine()).hostInfo()),
    create: async (vm, spec, mount) => {
      const runtime = await engine();
      let made = { createdVolume: false, createdDisk: false };
      let containerId: string | undefined;
      try {
        const [provisioned] = await Promise.all([
          provisionHome(ctx, runtime, mount.instanceId, mount.home, vm, mount.userId, mount.prepared),
          vmNetwork(ctx, runtime, 'local'),
        ]);
        made = provisioned;
        containerId = await runtime.createContainer(spec);
        await runtime.startContainer(containerId);
        return { containerId };
      } catch (err) {
        if (containerId) await runtime.removeContainer(containerId).catch(() => undefined);
        // A home made for this VM goes with it; a kept home that came back stays kept (detached).
        await releaseHome(ctx, runtime, mount.home, { delete: mount.fresh || made.createdVolume }).catch(() => undefined);
        throw err;
      }
    },
    redeploy: (vm, spec, mount) => redeployHere(ctx, vm, spec, mount),
    // The home's disk is attached first (after a reboot, or a device detached by hand).
    start: async (vm) => {
      const runtime = await engine();
      await attachHome(ctx, await homeOf(ctx, vm));
      return onContainer(vm, (id) => runtime.startContainer(id));
    },
    restart: async (vm) => {
      const runtime = await engine();
      await attachHome(ctx, await homeOf(ctx, vm));
      return onContainer(vm, (id) => runtime.restartContainer(id));
    },
    stop: async (vm, signal) => {
      const runtime = await engine();
      await onContainer(vm, (id) => runtime.stopContainer(id, undefined, signal));
    },
    workloadsMissing: async (vms) => {
      if (vms.length === 0) return [];
      const { instanceId } = await ctx.store.read();
      const present = new Set((await (await engine()).containers(instanceFilter(instanceId))).map((c) => c.id));
      return vms.filter((vm) => !vm.containerId || !present.has(vm.containerId));
    },
    remove: async (vm) => {
      if (vm.containerId) await (await engine()).removeContainer(vm.containerId);
    },
    releaseHome: async (_vm, home, options) => releaseHome(ctx, await engine(), home, options),
    eachEngine: async (vms, what, ms, work) => {
      if (vms.length === 0) return [];
      const runtime = await engine();
      // The one engine holds every VM: its failure is the caller's.
      const result = await withDeadline(ms, what, () => work(runtime, vms));
      return [{ node: undefined, vms, result }];
    },
  };
  return backend;
}

async function homeOf(ctx: Berth, vm: Vm): Promise<Home | undefined> {
  return (await ctx.store.read()).homes.find((h) => h.id === vm.home);
}

/** A fresh container for a VM record on this engine (home kept), started if the VM should run. */
export async function redeployHere(ctx: Berth, vm: Vm, spec: Docker.ContainerCreateOptions, mount: HomeToMount): Promise<Deployed> {
  const runtime = await ctx.runtime();
  const stale = (await runtime.containers([...instanceFilter(mount.instanceId), `${LABEL.user}=${vm.user}`, `${LABEL.vm}=${vm.name}`])).map(
    (c) => c.id,
  );
  for (const id of new Set([...(vm.containerId ? [vm.containerId] : []), ...stale])) await runtime.removeContainer(id);
  await Promise.all([provisionHome(ctx, runtime, mount.instanceId, mount.home, vm, mount.userId), vmNetwork(ctx, runtime, 'local')]);
  const containerId = await runtime.createContainer(spec);
  if (vm.desired === 'running') await runtime.startContainer(containerId);
  return { containerId };
}
