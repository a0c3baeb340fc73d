import type Docker from 'dockerode';
import type { Resources } from '../state/schema.js';
import { containerName, homeDir } from './labels.js';

/**
 * Capabilities a dev box needs on top of none: the entrypoint creates the user and
 * owns the home (CHOWN, DAC_OVERRIDE, FOWNER, FSETID), sudo and su switch users
 * (SETUID, SETGID, AUDIT_WRITE), users signal their own processes (KILL) and run
 * servers on low ports (NET_BIND_SERVICE). Left out of Docker's default set:
 * MKNOD, NET_RAW, SETFCAP, SETPCAP, SYS_CHROOT.
 */
export const VM_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL', 'NET_BIND_SERVICE', 'AUDIT_WRITE'];

export const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };

export interface VmSpecInput {
  user: string;
  vm: string;
  /** The VM's opaque id: its container and host name. */
  id: string;
  /** The home's Docker volume. */
  volume: string;
  image: string;
  network: string;
  resources: Resources;
  labels: Record<string, string>;
}

/** The whole `docker create` request of a VM: resources from its plan, hardening always. */
export function vmContainerSpec(input: VmSpecInput): Docker.ContainerCreateOptions {
  const { resources } = input;
  const home = homeDir(input.user);
  const hostConfig: Docker.HostConfig = {
    Init: true,
    Privileged: false,
    CapDrop: ['ALL'],
    CapAdd: VM_CAPABILITIES,
    SecurityOpt: resources.sudo ? [] : ['no-new-privileges:true'],
    Memory: resources.memoryBytes,
    MemorySwap: resources.memoryBytes,
    NanoCpus: Math.round(resources.cpu * 1e9),
    PidsLimit: resources.pids,
    NetworkMode: input.network,
    RestartPolicy: { Name: 'unless-stopped' },
    LogConfig: { Type: 'json-file', Config: LOG_OPTIONS },
    Mounts: [{ Type: 'volume', Source: input.volume, Target: home }],
  };
  // Where the engine can hold it (overlay2 on XFS with project quotas); elsewhere the daemon measures.
  if (resources.rootfsEnforced === 'engine' && resources.rootfsBytes) hostConfig.StorageOpt = { size: String(resources.rootfsBytes) };
  if (resources.gpu === 'all' || resources.gpu > 0) {
    hostConfig.DeviceRequests = [{ Driver: 'nvidia', Count: resources.gpu === 'all' ? -1 : resources.gpu, Capabilities: [['gpu']] }];
  }
  return {
    name: containerName(input.id),
    Image: input.image,
    // Docker's DNS answers for the host name too: it must tell other VMs nothing either.
    Hostname: containerName(input.id),
    Env: [`BERTH_USER=${input.user}`, `BERTH_VM=${input.vm}`, `BERTH_SUDO=${resources.sudo ? 1 : 0}`],
    Labels: input.labels,
    WorkingDir: home,
    HostConfig: hostConfig,
  };
}

/** The Swarm service label that says which node holds a VM's home (its placement pin). */
export const NODE_PIN = 'node.id';

/** The kind of generic resource a Swarm node advertises its GPUs as (node-generic-resources GPU=…; its task sees DOCKER_RESOURCE_GPU). */
export const GPU_KIND = 'GPU';

/**
 * A local request for N GPUs (DeviceRequests, the nvidia driver) as Swarm's: a reservation of N
 * generic resources of kind GPU, so that Swarm places the task only on a node with N free. "All
 * GPUs" (-1) has no Swarm form: berth refuses it there before a spec is made.
 */
function gpuReservation(host: Docker.HostConfig): { GenericResources?: unknown[] } {
  const count = host.DeviceRequests?.[0]?.Count ?? 0;
  return count > 0 ? { GenericResources: [{ DiscreteResourceSpec: { Kind: GPU_KIND, Value: count } }] } : {};
}

/**
 * The Swarm service of a VM, made from the very `docker create` request the local engine gets
 * (`vmContainerSpec`): one replica (none while stopped), the plan's limits as limits and as
 * reservations (Swarm places by them; GPUs as generic resources), berth's labels, the home volume (made on the node with the
 * same labels), DNS round-robin and no published ports (no routing mesh), pinned to `node` once known.
 * What a service cannot carry (no-new-privileges, devices) is the node daemon's default, checked
 * on the container by `hardeningDrift`.
 */
export function vmServiceSpec(spec: Docker.ContainerCreateOptions, options: { node?: string; replicas: number }): Docker.ServiceSpec {
  const host = spec.HostConfig ?? {};
  const mounts = (host.Mounts ?? []).map((m) => ({
    Type: m.Type,
    Source: m.Source,
    Target: m.Target,
    ReadOnly: m.ReadOnly ?? false,
    VolumeOptions: { Labels: spec.Labels ?? {} },
  }));
  return {
    Name: spec.name,
    Labels: spec.Labels ?? {},
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.Image,
        Hostname: spec.Hostname,
        Env: spec.Env,
        Labels: spec.Labels ?? {},
        Dir: spec.WorkingDir,
        Init: host.Init ?? true,
        CapabilityDrop: host.CapDrop,
        CapabilityAdd: host.CapAdd,
        Mounts: mounts,
      } as Docker.ContainerSpec,
      Resources: {
        Limits: { NanoCPUs: host.NanoCpus, MemoryBytes: host.Memory, Pids: host.PidsLimit },
        Reservations: { NanoCPUs: host.NanoCpus, MemoryBytes: host.Memory, ...gpuReservation(host) },
      } as Docker.ResourceRequirements,
      RestartPolicy: { Condition: 'any', Delay: 2e9 },
      Placement: { Constraints: options.node ? [`${NODE_PIN}==${options.node}`] : [] },
      Networks: [{ Target: String(host.NetworkMode) }],
      LogDriver: { Name: 'json-file', Options: host.LogConfig?.Config ?? {} },
    },
    Mode: { Replicated: { Replicas: options.replicas } },
    EndpointSpec: { Mode: 'dnsrr' },
  };
}

/**
 * The hardening fields of the local spec a VM's service was made from, read back from the
 * service (what vmServiceSpec carried over; no-new-privileges always: a plan with sudo is refused
 * on Swarm). What a container Swarm made later, on its own, is checked against.
 */
export function expectedHostConfig(service: Docker.ServiceSpec): Docker.HostConfig {
  const template = (service.TaskTemplate ?? {}) as { ContainerSpec?: object; Resources?: { Limits?: object } };
  const container = (template.ContainerSpec ?? {}) as Docker.ContainerSpec & {
    Init?: boolean;
    CapabilityDrop?: string[];
    CapabilityAdd?: string[];
  };
  const limits = (template.Resources?.Limits ?? {}) as { NanoCPUs?: number; MemoryBytes?: number; Pids?: number };
  return {
    Init: container.Init ?? true,
    CapDrop: container.CapabilityDrop ?? ['ALL'],
    CapAdd: container.CapabilityAdd ?? [],
    NanoCpus: limits.NanoCPUs,
    Memory: limits.MemoryBytes,
    MemorySwap: limits.MemoryBytes,
    PidsLimit: limits.Pids,
    SecurityOpt: ['no-new-privileges:true'],
  };
}

/** What a VM's running container shows of its hardening (its inspect, and its PID 1's status). */
export interface HardeningReading {
  hostConfig: Docker.HostConfig;
  appArmorProfile: string;
  /** The node engine's security options (name=apparmor, name=seccomp,…). */
  engineSecurity: string[];
  /** /proc/1/status of the container, or null when it could not be read. */
  procStatus: string | null;
  /** The node's swap (SwapTotal of /proc/meminfo, in kB); null: not known. */
  swapKb?: number | null;
}

/**
 * Every hardening field of the local spec that the container a Swarm node made lacks, in words;
 * empty when it has them all. no-new-privileges and seccomp are read from the kernel (PID 1's
 * status), not from the spec: on Docker 20.10 a service cannot ask for them and the node's
 * daemon defaults decide.
 */
export function hardeningDrift(expected: Docker.HostConfig, got: HardeningReading): string[] {
  const actual = got.hostConfig;
  const problems: string[] = [];
  if (actual.Privileged) problems.push('it is privileged');
  if (!(actual.CapDrop ?? []).map((c: string) => c.toUpperCase()).includes('ALL'))
    problems.push('capabilities are not all dropped (cap-drop ALL)');
  const allowed = new Set((expected.CapAdd ?? []).map((c: string) => c.toUpperCase().replace(/^CAP_/, '')));
  const extra = (actual.CapAdd ?? []).map((c: string) => c.toUpperCase().replace(/^CAP_/, '')).filter((c: string) => !allowed.has(c));
  if (extra.length) problems.push(`it has capabilities the local spec does not give: ${extra.join(', ')}`);
  const same = (field: keyof Docker.HostConfig, what: string) => {
    if ((expected[field] ?? 0) !== (actual[field] ?? 0)) problems.push(`${what} is ${actual[field] ?? 'unset'}, not ${expected[field]}`);
  };
  same('PidsLimit', 'the process limit (pids-limit)');
  same('Memory', 'the memory limit');
  same('NanoCpus', 'the CPU limit');
  if (Boolean(expected.ReadonlyRootfs) !== Boolean(actual.ReadonlyRootfs)) problems.push('the read-only root filesystem setting differs');
  if (expected.Init && !actual.Init) problems.push('it runs without the init process');
  // Swarm (Docker 20.10) cannot set memory-swap: the container may swap as much again, where the node has swap.
  const swapOk = (actual.MemorySwap ?? 0) === (expected.MemorySwap ?? 0) || got.swapKb === 0;
  if (expected.MemorySwap && !swapOk)
    problems.push(
      `it may use swap (memory+swap ${actual.MemorySwap ?? 'unlimited'}, not ${expected.MemorySwap}): run the node without swap`,
    );
  if ((actual.Devices ?? []).length) problems.push('it has host devices');
  if ((actual.SecurityOpt ?? []).some((o: string) => /unconfined/.test(o)))
    problems.push(`a security profile is off (${actual.SecurityOpt?.join(', ')})`);
  const status = got.procStatus ?? '';
  const field = (name: string) => new RegExp(`${name}:\\s*(\\d+)`).exec(status)?.[1];
  if (got.procStatus === null) problems.push('its process status could not be read');
  else {
    const wantsNnp = (expected.SecurityOpt ?? []).some((o: string) => /^no-new-privileges(:true)?$/.test(o));
    if (wantsNnp && field('NoNewPrivs') !== '1')
      problems.push('no-new-privileges is off (the node daemon needs "no-new-privileges": true in daemon.json)');
    if (field('Seccomp') !== '2') problems.push('the default seccomp profile is not applied');
  }
  if (got.engineSecurity.some((o: string) => o.includes('name=apparmor')) && (!got.appArmorProfile || got.appArmorProfile === 'unconfined'))
    problems.push('the AppArmor profile is not applied');
  return problems;
}
