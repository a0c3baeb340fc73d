import { describe, expect, it } from 'vitest';
import { expectedHostConfig, hardeningDrift, vmServiceSpec } from '../../src/docker/hardening.js';

// What a container Swarm made on its own is checked against: the local spec's hardening, read back
// from the service it became (src/services/engine/engines.ts containerOf).
const local = {
  name: 'berth-abc',
  Image: 'berth-vm-minimal:latest',
  Labels: {},
  HostConfig: {
    NetworkMode: 'berth-vms',
    Init: true,
    CapDrop: ['ALL'],
    CapAdd: ['CHOWN', 'SETUID', 'SETGID'],
    NanoCpus: 5e8,
    Memory: 2 ** 30,
    MemorySwap: 2 ** 30,
    PidsLimit: 512,
    SecurityOpt: ['no-new-privileges:true'],
    Mounts: [],
  },
};
const status = (nnp: number, seccomp: number) => `Name:\tinit\nNoNewPrivs:\t${nnp}\nSeccomp:\t${seccomp}\n`;
const reading = (hostConfig: object, nnp = 1) => ({
  hostConfig,
  appArmorProfile: '',
  engineSecurity: ['name=seccomp,profile=default'],
  procStatus: status(nnp, 2),
  swapKb: 0,
});

describe('the hardening a replaced container is checked against', () => {
  const expected = expectedHostConfig(vmServiceSpec(local as never, { replicas: 1 }));

  it('is the local spec, as far as the service carries it', () => {
    expect(expected).toMatchObject({
      Init: true,
      CapDrop: ['ALL'],
      CapAdd: ['CHOWN', 'SETUID', 'SETGID'],
      NanoCpus: 5e8,
      Memory: 2 ** 30,
      PidsLimit: 512,
    });
    expect(hardeningDrift(expected, reading(local.HostConfig))).toEqual([]);
  });

  it('finds what a container made on a node that lost its defaults lacks', () => {
    expect(hardeningDrift(expected, reading(local.HostConfig, 0)).join(' ')).toContain('no-new-privileges');
    expect(hardeningDrift(expected, reading({ ...local.HostConfig, PidsLimit: 0 })).join(' ')).toContain('process limit');
    expect(hardeningDrift(expected, reading({ ...local.HostConfig, CapAdd: ['SYS_ADMIN'] })).join(' ')).toContain('SYS_ADMIN');
  });
});
