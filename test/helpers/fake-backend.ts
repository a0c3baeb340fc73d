import type Docker from 'dockerode';
import { LABEL } from '../../src/docker/labels.js';
import type { ContainerDetails, ContainerSummary, DockerRuntime, HostInfo } from '../../src/docker/runtime.js';
import { BerthError } from '../../src/errors.js';
import type { Berth } from '../../src/services/core/context.js';
import type { VmBackend } from '../../src/services/core/vm-backend.js';
import { hostAdmission } from '../../src/services/engine/local-backend.js';

/** A workload the fake holds: the create request it was given, and whether it runs. */
export interface FakeWorkload {
  id: string;
  spec: Docker.ContainerCreateOptions;
  running: boolean;
}

/**
 * An in-memory VmBackend with no Docker behind it: it keeps the create requests it is given (so that
 * a test reads their hardening and labels), home volumes by name, and runs nothing. `failingImages`:
 * images whose workload "cannot start" (create fails, after making the home, which it removes again).
 * Its engine (`engine`, for the services that read one) answers from the same memory.
 */
export interface FakeBackend {
  backend: VmBackend;
  engine: DockerRuntime;
  workloads: Map<string, FakeWorkload>;
  volumes: Map<string, Record<string, string>>;
  failingImages: Set<string>;
}

const HOST: HostInfo = {
  memoryBytes: 64 * 2 ** 30,
  cpus: 8,
  runtimes: ['runc'],
  name: 'fake',
  storageDriver: 'overlay2',
  securityOptions: ['name=seccomp,profile=default'],
  backingFilesystem: 'extfs',
};

export function fakeBackend(): FakeBackend {
  const workloads = new Map<string, FakeWorkload>();
  const volumes = new Map<string, Record<string, string>>();
  const failingImages = new Set<string>();
  let next = 0;
  const newId = () => (++next).toString(16).padStart(64, 'f');
  const labelsMatch = (labels: Record<string, string>, filters: string[]) =>
    filters.every((f) => {
      const [k, v] = f.split('=') as [string, string | undefined];
      return v === undefined ? k in labels : labels[k] === v;
    });
  const summary = (w: FakeWorkload): ContainerSummary => ({
    id: w.id,
    name: String(w.spec.name ?? w.id),
    labels: w.spec.Labels ?? {},
    state: w.running ? 'running' : 'exited',
    image: String(w.spec.Image),
    exitCode: w.running ? null : 0,
  });
  const engine = {
    address: 'fake://',
    version: async () => ({ version: 'fake', apiVersion: 'fake' }),
    hostInfo: async () => HOST,
    image: async (name: string) => ({ id: `sha256:${name}`, tags: [name], labels: { [LABEL.template]: 'minimal' }, sizeBytes: 0 }),
    containers: async (filters: string[] = []) =>
      [...workloads.values()].filter((w) => labelsMatch(w.spec.Labels ?? {}, filters)).map(summary),
    inspectContainer: async (id: string): Promise<ContainerDetails | null> => {
      const w = [...workloads.values()].find((x) => x.id === id || x.id.startsWith(id));
      if (!w) return null;
      return {
        ...summary(w),
        running: w.running,
        execs: 0,
        exitCode: 0,
        oomKilled: false,
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        hostConfig: w.spec.HostConfig ?? {},
        config: { Labels: w.spec.Labels ?? {} } as Docker.ContainerInspectInfo['Config'],
        appArmorProfile: '',
      };
    },
    removeContainer: async (id: string) => void workloads.delete(id),
    startContainer: async (id: string) => {
      const w = workloads.get(id);
      if (w) w.running = true;
    },
    pastEvents: async () => [],
    writableSize: async () => 0,
    removeVolume: async (name: string) => void volumes.delete(name),
    network: async () => null,
  } as unknown as DockerRuntime;

  const volumeOf = (spec: Docker.ContainerCreateOptions) => String(spec.HostConfig?.Mounts?.[0]?.Source);
  const deploy = (spec: Docker.ContainerCreateOptions, running: boolean) => {
    const id = newId();
    workloads.set(id, { id, spec, running });
    return id;
  };
  const of = (vm: { containerId: string | null }) => (vm.containerId ? workloads.get(vm.containerId) : undefined);
  const gone = (vm: { user: string; name: string }) =>
    new BerthError('CONTAINER_MISSING', `VM ${vm.user}/${vm.name} has no workload.`, 'Run berth vm reconcile --fix.');

  const backend: VmBackend = {
    engineOf: async () => engine,
    containerOf: async (vm) => vm.containerId,
    isHere: async () => true,
    admission: async () => hostAdmission(HOST),
    create: async (_vm, spec) => {
      const volume = volumeOf(spec);
      volumes.set(volume, { ...(spec.Labels ?? {}) });
      if (failingImages.has(String(spec.Image))) {
        volumes.delete(volume);
        throw new BerthError('DOCKER_ERROR', `The fake cannot start ${spec.Image}.`, 'It is a test double.');
      }
      return { containerId: deploy(spec, true) };
    },
    redeploy: async (vm, spec) => {
      if (vm.containerId) workloads.delete(vm.containerId);
      volumes.set(volumeOf(spec), volumes.get(volumeOf(spec)) ?? { ...(spec.Labels ?? {}) });
      return { containerId: deploy(spec, vm.desired === 'running') };
    },
    start: async (vm) => {
      const w = of(vm);
      if (!w) throw gone(vm);
      w.running = true;
      return w.id;
    },
    restart: async (vm, spec) => {
      const w = of(vm);
      if (!w) throw gone(vm);
      // A restart is a new process of the same workload.
      w.spec = spec;
      w.running = true;
      return w.id;
    },
    stop: async (vm) => {
      const w = of(vm);
      if (!w) throw gone(vm);
      w.running = false;
    },
    remove: async (vm) => {
      if (vm.containerId) workloads.delete(vm.containerId);
    },
    workloadsMissing: async (vms) => vms.filter((vm) => !vm.containerId || !workloads.has(vm.containerId)),
    releaseHome: async (_vm, home, options) => {
      if (options.delete) volumes.delete(home.volume);
    },
    eachEngine: async (vms, _what, _ms, work) => (vms.length ? [{ node: undefined, vms, result: await work(engine, vms) }] : []),
    networkScope: 'local',
    peerAddresses: async () => [],
    cluster: null,
    apps: {
      place: async () => undefined,
      engine: async () => engine,
      network: async () => 'fake-network',
      provide: async () => undefined,
    },
  };
  return { backend, engine, workloads, volumes, failingImages };
}

/** A context for `home` whose engine and backend are the fake's. */
export function fakeContext(base: Berth, fake: FakeBackend): Berth {
  return { ...base, runtime: async () => fake.engine, backend: async () => fake.backend };
}
