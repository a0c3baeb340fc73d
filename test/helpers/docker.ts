import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { removeFirewallRules } from '../../src/services/network/firewall.js';
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

/**
 * Instances of the homes vmHome made in this test process: the lookups by login below see only
 * their VMs, never those of another test file (or another checkout's run) using the same login.
 */
const ours = new Set<string>();

/** An initialised berth home whose VMs run the minimal image on a network of their own. */
export async function vmHome(): Promise<VmHome> {
  const { home, cleanup } = await tempHome();
  const network = unique('berth-test-');
  for (const args of [['init'], ['config', 'set', 'image', MINIMAL_IMAGE], ['config', 'set', 'docker.network', network]]) {
    const run = await berth(home, args);
    if (run.code !== 0) throw new Error(run.stderr);
  }
  const instanceId = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')).instanceId as string;
  ours.add(instanceId);
  return {
    home,
    network,
    instanceId,
    cleanup: async () => {
      await removeInstance(instanceId);
      await detachDisksUnder(home);
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
  // Apps' images (builds, uploads) carry the instance's label too.
  for (const image of await docker.listImages({ filters: { label } }).catch(() => [])) {
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  const { Volumes } = await docker.listVolumes({ filters: { label } });
  for (const v of Volumes ?? []) await docker.getVolume(v.Name).remove({ force: true });
  // This instance's chains (BERTH-IN-<id>, BERTH-FWD-<id>) and the jumps into them, both families.
  await removeFirewallRules(instanceId);
}

/** Detaches the loop devices of quota disks under a berth home (those of no one else). */
export async function detachDisksUnder(home: string): Promise<void> {
  const { stdout } = await execa('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { reject: false });
  const devices = stdout ? (JSON.parse(stdout) as { loopdevices: Array<{ name: string; 'back-file': string | null }> }).loopdevices : [];
  const prefix = `${join(home, 'disks')}/`;
  for (const d of devices) {
    if (d['back-file']?.startsWith(prefix)) await execa('losetup', ['--detach', d.name], { reject: false });
  }
}

export async function inspect(name: string): Promise<Docker.ContainerInspectInfo> {
  return docker.getContainer(name).inspect();
}

async function labelled(kind: 'container' | 'volume', login: string, vm: string): Promise<string | null> {
  const label = [`dev.berth.user=${login}`, `dev.berth.vm=${vm}`];
  const mine = (labels: Record<string, string> | null | undefined) => ours.size === 0 || ours.has(labels?.['dev.berth.instance'] ?? '');
  const names =
    kind === 'container'
      ? (await docker.listContainers({ all: true, filters: { label } })).filter((c) => mine(c.Labels)).map((c) => c.Id)
      : ((await docker.listVolumes({ filters: { label } })).Volumes ?? []).filter((v) => mine(v.Labels)).map((v) => v.Name);
  if (names.length > 1) throw new Error(`expected at most one ${kind} of ${login}/${vm}, found ${names.length}`);
  return names[0] ?? null;
}

async function one(kind: 'container' | 'volume', login: string, vm: string): Promise<string> {
  const name = await labelled(kind, login, vm);
  if (!name) throw new Error(`${login}/${vm} has no ${kind}`);
  return name;
}

/** The container of a user's VM (container names are opaque ids; the labels carry the names). */
export const vmContainer = (login: string, vm = 'main') => one('container', login, vm);
/** The home volume of a user's VM. */
export const homeVolume = (login: string, vm = 'main') => one('volume', login, vm);
/** The container of a user's VM, or null when it has none. */
export const findVmContainer = (login: string, vm = 'main') => labelled('container', login, vm);
/** The home volume of a user's VM, or null when it has none. */
export const findHomeVolume = (login: string, vm = 'main') => labelled('volume', login, vm);
