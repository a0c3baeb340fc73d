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
