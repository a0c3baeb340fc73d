import { describe, expect, it } from 'vitest';
import { VM_CAPABILITIES, vmContainerSpec } from '../../src/docker/hardening.js';
import { checkCapacity, checkGpu, resourcesFor } from '../../src/domain/policies.js';
import { BerthError } from '../../src/errors.js';
import type { Plan, Resources, State } from '../../src/state/schema.js';
import { CONFIG_KEYS, effectiveConfig } from '../../src/values/config-keys.js';

const plan = (over: Partial<Plan> = {}): Plan => ({ name: 'p', gpu: 0, pids: 512, maxVms: 1, sudo: false, description: '', ...over });
const spec = (resources: Resources) =>
  vmContainerSpec({
    user: 'alice',
    vm: 'main',
    id: '0123456789ab',
    volume: 'berth-home-ba9876543210',
    image: 'berth-vm:latest',
    network: 'berth-vms',
    resources,
    labels: { a: 'b' },
  });
const base: Resources = { cpu: 1.5, memoryBytes: 2 * 1024 ** 3, pids: 256, gpu: 0, sudo: false };

describe('a VM container spec', () => {
  it('is hardened whatever the plan', () => {
    const host = spec(base).HostConfig ?? {};
    expect(host.Privileged).toBe(false);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toEqual(VM_CAPABILITIES);
    expect(host.CapAdd).not.toContain('SYS_ADMIN');
    expect(host.CapAdd).not.toContain('NET_RAW');
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.Binds).toBeUndefined();
    expect(host.Mounts).toEqual([{ Type: 'volume', Source: 'berth-home-ba9876543210', Target: '/home/alice' }]);
    expect(host.PidsLimit).toBe(256);
    expect(host.Init).toBe(true);
    expect(host.RestartPolicy).toEqual({ Name: 'unless-stopped' });
    expect(host.LogConfig?.Config).toEqual({ 'max-size': '10m', 'max-file': '3' });
    expect(host.NetworkMode).toBe('berth-vms');
  });

  it('takes memory without swap and fractional CPUs', () => {
    const host = spec(base).HostConfig ?? {};
    expect(host.Memory).toBe(2 * 1024 ** 3);
    expect(host.MemorySwap).toBe(2 * 1024 ** 3);
    expect(host.NanoCpus).toBe(1_500_000_000);
  });

  it('names the container and its host after the opaque VM id, never the login or VM name', () => {
    const made = spec(base);
    expect(made.name).toBe('berth-0123456789ab');
    expect(made.Hostname).toBe('berth-0123456789ab');
    expect(JSON.stringify([made.name, made.Hostname])).not.toMatch(/alice|main/);
  });

  it('asks the engine to limit the rootfs only where it can (storage-opt), never otherwise', () => {
    expect(spec({ ...base, rootfsBytes: 1024 ** 3, rootfsEnforced: 'engine' }).HostConfig?.StorageOpt).toEqual({ size: String(1024 ** 3) });
    expect(spec({ ...base, rootfsBytes: 1024 ** 3, rootfsEnforced: 'measured' }).HostConfig?.StorageOpt).toBeUndefined();
  });

  it('drops no-new-privileges only for sudo plans', () => {
    expect(spec({ ...base, sudo: true }).HostConfig?.SecurityOpt).toEqual([]);
    expect(spec({ ...base, sudo: true }).Env).toContain('BERTH_SUDO=1');
  });

  it('asks for an exact GPU count, all GPUs only when the plan says all, none for 0', () => {
    expect(spec(base).HostConfig?.DeviceRequests).toBeUndefined();
    expect(spec({ ...base, gpu: 2 }).HostConfig?.DeviceRequests).toEqual([{ Driver: 'nvidia', Count: 2, Capabilities: [['gpu']] }]);
    expect(spec({ ...base, gpu: 'all' }).HostConfig?.DeviceRequests?.[0]?.Count).toBe(-1);
  });
});

describe('resources and policies', () => {
  it('fills what a plan leaves out from the global defaults, and gives GPUs only when config gpu is on', () => {
    const config = effectiveConfig({ cpu: 0.5, ram: 512 * 1024 ** 2 });
    expect(resourcesFor(plan({ gpu: 1 }), config)).toEqual({
      cpu: 0.5,
      memoryBytes: 512 * 1024 ** 2,
      pids: 512,
      gpu: 0,
      sudo: false,
      diskBytes: CONFIG_KEYS.disk.default,
      rootfsBytes: CONFIG_KEYS.rootfs.default,
    });
    expect(resourcesFor(plan({ diskBytes: 0, rootfsBytes: 64 * 1024 ** 2 }), config)).toMatchObject({
      diskBytes: 0,
      rootfsBytes: 64 * 1024 ** 2,
    });
    expect(resourcesFor(plan({ gpu: 1, cpu: 2 }), effectiveConfig({ gpu: true })).gpu).toBe(1);
    expect(CONFIG_KEYS.gpu.default).toBe(false);
  });

  it('refuses GPUs when the engine has no nvidia runtime', () => {
    expect(() => checkGpu({ ...base, gpu: 1 }, ['runc'])).toThrow(BerthError);
    expect(() => checkGpu({ ...base, gpu: 1 }, ['runc', 'nvidia'])).not.toThrow();
    expect(() => checkGpu(base, ['runc'])).not.toThrow();
  });

  it('counts the memory of running VMs against host memory × overcommit, with numbers in the refusal', () => {
    const vm = (desired: 'running' | 'stopped', gib: number) => ({
      user: 'a',
      name: `v${gib}${desired}`,
      plan: 'p',
      image: 'i',
      phase: 'ready' as const,
      containerId: 'x',
      desired,
      resources: { ...base, memoryBytes: gib * 1024 ** 3 },
      createdAt: '',
    });
    const state = { vms: [vm('running', 6), vm('stopped', 8)] } as unknown as State;
    expect(() => checkCapacity(state, { ...base, memoryBytes: 2 * 1024 ** 3 }, 8 * 1024 ** 3, 1)).not.toThrow();
    try {
      checkCapacity(state, { ...base, memoryBytes: 4 * 1024 ** 3 }, 8 * 1024 ** 3, 1);
      throw new Error('expected a refusal');
    } catch (err) {
      expect((err as BerthError).code).toBe('CAPACITY_EXCEEDED');
      expect((err as BerthError).message).toContain('needs 4g');
      expect((err as BerthError).message).toContain('reserve 6g of 8g');
    }
    expect(() => checkCapacity(state, { ...base, memoryBytes: 4 * 1024 ** 3 }, 8 * 1024 ** 3, 1.5)).not.toThrow();
  });
});
