import { describe, expect, it } from 'vitest';
import { type HardeningReading, hardeningDrift, vmContainerSpec, vmServiceSpec } from '../../src/docker/hardening.js';
import { defaultsMissing } from '../../src/services/engine/engines.js';
import { checkSwarmResources } from '../../src/services/engine/swarm-backend.js';
import type { Resources } from '../../src/state/schema.js';

const resources: Resources = { cpu: 0.5, memoryBytes: 512 * 2 ** 20, pids: 256, gpu: 0, sudo: false, diskBytes: 0, rootfsBytes: 0 };
const local = vmContainerSpec({
  user: 'alice',
  vm: 'main',
  id: '0123456789ab',
  volume: 'berth-home-ba9876543210',
  image: 'berth-vm-minimal:latest',
  network: 'berth-vms',
  resources,
  labels: { 'dev.berth.managed': 'true', 'dev.berth.user': 'alice' },
});

/** What a node's container of that spec shows when it kept everything. */
function faithful(): HardeningReading {
  return {
    hostConfig: { ...local.HostConfig, SecurityOpt: [], CapAdd: local.HostConfig?.CapAdd?.map((c) => `CAP_${c}`) },
    appArmorProfile: 'docker-default',
    engineSecurity: ['name=apparmor', 'name=seccomp,profile=default'],
    procStatus: 'Name:\tdocker-init\nNoNewPrivs:\t1\nSeccomp:\t2\n',
  };
}

describe('a VM as a Swarm service', () => {
  it('is made from the local create request: one replica, limits as reservations, labels, home, DNS round-robin, no ports', () => {
    const spec = vmServiceSpec(local, { replicas: 1 });
    expect(spec.Name).toBe('berth-0123456789ab');
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(spec.EndpointSpec).toEqual({ Mode: 'dnsrr' });
    expect(spec.Labels).toEqual(local.Labels);
    // biome-ignore lint/suspicious/noExplicitAny: the spec is read as the engine gets it
    const task = spec.TaskTemplate as Record<string, any>;
    expect(task.Resources.Limits).toEqual({ NanoCPUs: 5e8, MemoryBytes: 512 * 2 ** 20, Pids: 256 });
    expect(task.Resources.Reservations).toEqual({ NanoCPUs: 5e8, MemoryBytes: 512 * 2 ** 20 });
    expect(task.ContainerSpec.CapabilityDrop).toEqual(['ALL']);
    expect(task.ContainerSpec.CapabilityAdd).toEqual(local.HostConfig?.CapAdd);
    expect(task.ContainerSpec.Init).toBe(true);
    expect(task.ContainerSpec.Mounts[0]).toMatchObject({
      Source: 'berth-home-ba9876543210',
      Target: '/home/alice',
      VolumeOptions: { Labels: local.Labels },
    });
    expect(task.Networks).toEqual([{ Target: 'berth-vms' }]);
    expect(JSON.stringify(spec)).not.toContain('PublishedPort');
  });

  it('a VM of a plan with N GPUs reserves N generic resources of kind GPU (Swarm places it on a node with that many free)', () => {
    const withGpus = vmContainerSpec({
      user: 'alice',
      vm: 'main',
      id: '0123456789ab',
      volume: 'berth-home-ba9876543210',
      image: 'berth-vm-minimal:latest',
      network: 'berth-vms',
      resources: { ...resources, gpu: 2 },
      labels: {},
    });
    // biome-ignore lint/suspicious/noExplicitAny: the spec is read as the engine gets it
    const reservations = (vmServiceSpec(withGpus, { replicas: 1 }).TaskTemplate as Record<string, any>).Resources.Reservations;
    expect(reservations.GenericResources).toEqual([{ DiscreteResourceSpec: { Kind: 'GPU', Value: 2 } }]);
  });

  it('a container that kept every hardening field passes; each lost field is named', () => {
    expect(hardeningDrift(local.HostConfig ?? {}, faithful())).toEqual([]);
    const lost = (change: (r: HardeningReading) => void) => {
      const r = faithful();
      change(r);
      return hardeningDrift(local.HostConfig ?? {}, r).join('; ');
    };
    expect(lost((r) => (r.hostConfig.CapDrop = []))).toContain('cap-drop ALL');
    expect(lost((r) => (r.hostConfig.CapAdd = ['SYS_ADMIN']))).toContain('SYS_ADMIN');
    expect(lost((r) => (r.hostConfig.PidsLimit = 0))).toContain('pids-limit');
    expect(lost((r) => (r.hostConfig.Memory = 0))).toContain('memory limit');
    expect(lost((r) => (r.hostConfig.NanoCpus = 0))).toContain('CPU limit');
    expect(lost((r) => (r.hostConfig.Privileged = true))).toContain('privileged');
    expect(lost((r) => (r.procStatus = 'NoNewPrivs:\t0\nSeccomp:\t2\n'))).toContain('"no-new-privileges": true');
    expect(lost((r) => (r.procStatus = 'NoNewPrivs:\t1\nSeccomp:\t0\n'))).toContain('seccomp');
    expect(lost((r) => (r.appArmorProfile = 'unconfined'))).toContain('AppArmor');
    expect(lost((r) => (r.procStatus = null))).toContain('could not be read');
    // What Swarm gives on 20.10 (memory-swap twice the memory): lost only where the node has swap.
    const swappy = (swapKb: number) =>
      lost((r) => {
        r.hostConfig.MemorySwap = 2 * (local.HostConfig?.Memory ?? 0);
        r.swapKb = swapKb;
      });
    expect(swappy(0)).toBe('');
    expect(swappy(1024)).toContain('swap');
  });

  it('plans Swarm cannot serve are refused with the reason; node defaults say what is missing', () => {
    expect(() => checkSwarmResources(resources)).not.toThrow();
    expect(() => checkSwarmResources({ ...resources, sudo: true })).toThrow(/sudo/);
    expect(() => checkSwarmResources({ ...resources, gpu: 2 })).not.toThrow();
    expect(() => checkSwarmResources({ ...resources, gpu: 'all' })).toThrow(/all GPUs/);
    expect(() => checkSwarmResources({ ...resources, diskBytes: 2 ** 30 })).toThrow(/home quota/);
    expect(() => checkSwarmResources({ ...resources, rootfsBytes: 2 ** 30 })).toThrow(/outside its home/);
    const checked = { noNewPrivileges: false, seccomp: true, apparmor: null, checkedAt: '' };
    expect(defaultsMissing(checked)).toEqual(['"no-new-privileges": true in /etc/docker/daemon.json']);
    expect(defaultsMissing(undefined)).toEqual(['its daemon defaults were not checked yet']);
  });
});
