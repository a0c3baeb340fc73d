import type Docker from 'dockerode';
import type { Resources } from '../state/schema.js';
import { containerName, homeDir, volumeName } from './labels.js';

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
    Mounts: [{ Type: 'volume', Source: volumeName(input.user, input.vm), Target: home }],
  };
  if (resources.gpu === 'all' || resources.gpu > 0) {
    hostConfig.DeviceRequests = [{ Driver: 'nvidia', Count: resources.gpu === 'all' ? -1 : resources.gpu, Capabilities: [['gpu']] }];
  }
  return {
    name: containerName(input.user, input.vm),
    Image: input.image,
    Hostname: `${input.user}-${input.vm}`.slice(0, 63),
    Env: [`BERTH_USER=${input.user}`, `BERTH_SUDO=${resources.sudo ? 1 : 0}`],
    Labels: input.labels,
    WorkingDir: home,
    HostConfig: hostConfig,
  };
}
