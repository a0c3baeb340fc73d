import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { removeFirewallRules } from '../../src/services/firewall.js';
import { berth, tempHome } from './cli.js';

export const docker = new Docker();
export const MINIMAL_IMAGE = 'berth-vm-minimal:latest';

/** A short random suffix so that test files running at once never share Docker names. */
export function unique(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 7)}`;
}

export interface VmHome {
  home: string;
  network: string;
  instanceId: string;
  /** Removes every container, volume and network this home made, then the home. */
  cleanup(): Promise<void>;
}

/** An initialised berth home whose VMs run the minimal image on a network of their own. */
export async function vmHome(): Promise<VmHome> {
  const { home, cleanup } = await tempHome();
  const network = unique('berth-test-');
  for (const args of [['init'], ['config', 'set', 'image', MINIMAL_IMAGE], ['config', 'set', 'docker.network', network]]) {
    const run = await berth(home, args);
    if (run.code !== 0) throw new Error(run.stderr);
  }
  const instanceId = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')).instanceId as string;
  return {
    home,
    network,
    instanceId,
    cleanup: async () => {
      await removeInstance(instanceId);
      await docker
        .getNetwork(network)
        .remove()
        .catch(() => undefined);
      await cleanup();
    },
  };
}

export async function removeInstance(instanceId: string): Promise<void> {
  const label = [`dev.berth.instance=${instanceId}`];
  for (const c of await docker.listContainers({ all: true, filters: { label } })) {
    await docker.getContainer(c.Id).remove({ force: true });
  }
  const { Volumes } = await docker.listVolumes({ filters: { label } });
  for (const v of Volumes ?? []) await docker.getVolume(v.Name).remove({ force: true });
  // This instance's chains (BERTH-IN-<id>, BERTH-FWD-<id>) and the jumps into them, both families.
  await removeFirewallRules(instanceId);
}

export async function inspect(name: string): Promise<Docker.ContainerInspectInfo> {
  return docker.getContainer(name).inspect();
}
