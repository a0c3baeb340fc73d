import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeViewSchema } from '../../src/views/node-view.js';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { MINIMAL_IMAGE, unique } from '../helpers/docker.js';
import type { NetnsEngine } from '../helpers/netns-engine.js';
import { swarmBerth } from '../helpers/swarm-berth.js';
import { type SwarmCluster, startSwarm } from '../helpers/swarm-cluster.js';

/**
 * GPUs on a real three-node Swarm (test/helpers/swarm-cluster.ts), berth on the manager: node 2
 * advertises two named GPUs (node-generic-resources GPU=gpu0, GPU=gpu1 in its daemon.json), the
 * others none. There is no NVIDIA GPU or runtime on this machine: what is checked is berth's part,
 * the reservation Swarm places by and the GPU Swarm hands the VM's container (DOCKER_RESOURCE_GPU),
 * which the NVIDIA runtime on a real node reads.
 */
let cluster: SwarmCluster;
let dir: string;
let home: string;
const users = [unique('gpu1'), unique('gpu2'), unique('gpu3')];

const node2 = () => cluster.nodes[1] as NetnsEngine;

/** The GPU Swarm gave the user's VM: DOCKER_RESOURCE_GPU in its container's environment, read on node 2's engine. */
async function gpuOf(login: string): Promise<string | undefined> {
  const [c] = await node2().docker.listContainers({ filters: { label: [`dev.berth.user=${login}`] } });
  if (!c) throw new Error(`no running container of ${login} on node 2`);
  const env = ((await node2().docker.getContainer(c.Id).inspect()).Config.Env ?? []) as string[];
  return env.find((e) => e.startsWith('DOCKER_RESOURCE_GPU='))?.split('=')[1];
}

/** Nothing of the user's is left: no VM, no home, no service, no volume on any node. */
async function nothingLeftOf(login: string): Promise<void> {
  expect((await vms()).map((v) => v.user)).not.toContain(login);
  expect(((await json(['home', 'list'])) as Array<{ owner?: string | null }>).map((h) => h.owner)).not.toContain(login);
  const services = (await cluster.manager.docker.listServices({ filters: { label: [`dev.berth.user=${login}`] } })) as unknown[];
  expect(services).toEqual([]);
  for (const node of cluster.nodes) {
    const volumes = (await node.docker.listVolumes()).Volumes ?? [];
    expect(volumes.filter((v) => v.Labels?.['dev.berth.user'] === login)).toEqual([]);
  }
}

const { b, ok, json, vms, errorOf, init } = swarmBerth(
  () => cluster,
  () => home,
);

beforeAll(async () => {
  cluster = await startSwarm({
    images: [MINIMAL_IMAGE],
    daemonConfig: (i) => ({ 'no-new-privileges': true, ...(i === 1 ? { 'node-generic-resources': ['GPU=gpu0', 'GPU=gpu1'] } : {}) }),
  });
  console.log(`swarm of 3 (node 2 with two GPUs) up in ${cluster.bringUpMs} ms`);
  dir = await mkdtemp(join(tmpdir(), 'berth-swarm-gpu-'));
  home = join(dir, 'h');
  await init([
    ['network.firewall', 'off'],
    ['gpu', 'on'],
  ]);
  await ok(['plan', 'add', 'onegpu', '--ram', '64m', '--cpu', '0.1', '--gpu', '1', '--disk', '0', '--rootfs', '0']);
  for (let i = 1; i < 3; i++) await ok(['node', 'engine', cluster.hostnames[i] as string, (cluster.nodes[i] as NetnsEngine).host]);
  for (const [i, node] of cluster.nodes.entries()) {
    await node.docker.createNetwork({
      Name: 'berth-vms-config',
      Driver: 'null',
      ConfigOnly: true,
      IPAM: { Config: [{ Subnet: `10.232.${i}.0/24` }] },
      Options: { 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.name': 'berthvms' },
    } as Docker.NetworkCreateOptions);
  }
  for (const u of users) await ok(['user', 'allow', u, '--plan', 'onegpu']);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('GPUs on a three-node Swarm', () => {
  it('node list shows the GPUs each node advertises', async () => {
    const nodes = NodeViewSchema.array().parse(await json(['node', 'list']));
    expect(cluster.ids.map((id) => nodes.find((n) => n.id === id)?.gpus)).toEqual([0, 2, 0]);
    const table = await ok(['node', 'list']);
    expect(table).toMatch(/GPU/);
  });

  it('a VM of a one-GPU plan lands on the GPU node with one of its GPUs; two take both; node list shows 2/2 reserved', async () => {
    const first = VmViewSchema.parse(await json(['vm', 'create', users[0] as string]));
    expect(first.node).toBe(cluster.ids[1]);
    expect(first.gpu).toBe(1);
    const gpuA = await gpuOf(users[0] as string);
    expect(['gpu0', 'gpu1']).toContain(gpuA);
    const second = VmViewSchema.parse(await json(['vm', 'create', users[1] as string]));
    expect(second.node).toBe(cluster.ids[1]);
    const gpuB = await gpuOf(users[1] as string);
    expect(['gpu0', 'gpu1']).toContain(gpuB);
    expect(gpuB).not.toBe(gpuA);
    // What Swarm was asked for: a reservation of one generic resource of kind GPU.
    const [service] = (await cluster.manager.docker.listServices({ filters: { label: [`dev.berth.user=${users[0]}`] } })) as Array<{
      Spec: { TaskTemplate: { Resources: { Reservations: { GenericResources?: unknown[] } } } };
    }>;
    expect(service?.Spec.TaskTemplate.Resources.Reservations.GenericResources).toEqual([
      { DiscreteResourceSpec: { Kind: 'GPU', Value: 1 } },
    ]);
    const shown = NodeViewSchema.parse(await json(['node', 'show', cluster.hostnames[1] as string]));
    expect([shown.reserved.gpus, shown.gpus]).toEqual([2, 2]);
    expect(shown.vms).toBe(2);
    expect(await ok(['node', 'list'])).toMatch(/2\/2/);
  }, 90_000);

  it('a third one-GPU VM finds no room: a clear error, and nothing of it is left', async () => {
    const third = await b(['vm', 'create', users[2] as string, '--json']);
    expect(third.code, third.stderr).toBe(1);
    const error = errorOf(third);
    expect(error.code).toBe('NO_NODE_FITS');
    expect(error.message).toMatch(/reserves 1 GPU/);
    expect(error.message).toContain(`${cluster.hostnames[1]} 2/2`);
    await nothingLeftOf(users[2] as string);
    expect(await cluster.manager.docker.listServices()).toHaveLength(2);
  }, 60_000);

  it('a plan that asks for more GPUs than any node has, or for all GPUs, is refused before anything is made', async () => {
    await ok(['plan', 'add', 'threegpu', '--ram', '64m', '--cpu', '0.1', '--gpu', '3', '--disk', '0', '--rootfs', '0']);
    const three = await b(['vm', 'create', users[2] as string, '--plan', 'threegpu', '--json']);
    expect(errorOf(three).code, three.stderr).toBe('NO_NODE_FITS');
    expect(errorOf(three).message).toMatch(/reserves 3 GPU\(s\), and no node that may take it advertises that many/);
    await nothingLeftOf(users[2] as string);
    await ok(['plan', 'add', 'allgpus', '--ram', '64m', '--cpu', '0.1', '--gpu', 'all', '--disk', '0', '--rootfs', '0']);
    const all = await b(['vm', 'create', users[2] as string, '--plan', 'allgpus', '--json']);
    expect(errorOf(all).code, all.stderr).toBe('NOT_ON_SWARM');
    expect(errorOf(all).message).toMatch(/all GPUs/);
    await nothingLeftOf(users[2] as string);
  }, 60_000);

  it('a GPU VM is not moved to a node without GPUs: refused before anything changes', async () => {
    const r = await b(['vm', 'move', users[0] as string, '--to', cluster.hostnames[2] as string, '--json']);
    expect(errorOf(r).code, r.stderr).toBe('NO_NODE_FITS');
    expect(errorOf(r).message).toMatch(/reserves 1 GPU\(s\); node .* advertises 0/);
    const vm = (await vms()).find((v) => v.user === users[0]);
    expect([vm?.node, vm?.state]).toEqual([cluster.ids[1], 'running']);
  }, 30_000);

  it('a stopped VM gives its GPU back: the third VM then gets it', async () => {
    const freed = await gpuOf(users[0] as string);
    await ok(['vm', 'stop', users[0] as string]);
    const third = VmViewSchema.parse(await json(['vm', 'create', users[2] as string]));
    expect(third.node).toBe(cluster.ids[1]);
    expect(await gpuOf(users[2] as string)).toBe(freed);
  }, 60_000);
});
