import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { MINIMAL_IMAGE, unique } from '../helpers/docker.js';
import type { NetnsEngine } from '../helpers/netns-engine.js';
import { swarmBerth } from '../helpers/swarm-berth.js';
import { type SwarmCluster, startSwarm } from '../helpers/swarm-cluster.js';

/**
 * `vm move` when the copy of a home stalls, on a real two-node Swarm: berth reaches node 2's
 * engine through a socket proxy the test holds (as it would reach it over a network), and the
 * proxy, when told to, passes the first 64 KiB of the home's archive and then nothing more,
 * the connection kept open: an engine (or a network) that stops sending.
 */
let cluster: SwarmCluster;
let dir: string;
let home: string;
let proxy: Server;
const login = unique('mv');
const STALL_AFTER = 64 * 1024;
const control = { stall: false, stalled: 0 };
const held = new Set<Socket>();

const vmNow = async () => VmViewSchema.parse(JSON.parse(await ok(['vm', 'show', login, '--json'])));

/** A proxy to an engine's socket that stalls the home archive's answer when `control.stall` is on. */
function stallingProxy(path: string, engineSocket: string): Promise<Server> {
  const server = createServer((client) => {
    held.add(client);
    const upstream = connect(engineSocket);
    let left: number | null = null;
    client.on('data', (chunk: Buffer) => {
      if (control.stall && /GET \S*\/archive\?path=%2Fhome-copy/.test(chunk.toString('latin1'))) {
        left = STALL_AFTER;
        control.stalled += 1;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (left === null) return void client.write(chunk);
      if (left > 0) client.write(chunk.subarray(0, left));
      left -= chunk.length;
      // From here the engine's answer goes nowhere: the client hears nothing more, the connection stays open.
      if (left <= 0) upstream.pause();
    });
    const end = () => {
      held.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    client.on('error', end);
    upstream.on('close', end);
    upstream.on('error', end);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

const { b, ok, errorOf, init } = swarmBerth(
  () => cluster,
  () => home,
);

beforeAll(async () => {
  cluster = await startSwarm({ size: 2, images: [MINIMAL_IMAGE] });
  dir = await mkdtemp(join(tmpdir(), 'berth-move-stall-'));
  home = join(dir, 'h');
  await init([['network.firewall', 'off']]);
  await ok(['plan', 'add', 'small', '--ram', '64m', '--cpu', '0.1', '--disk', '0', '--rootfs', '0']);
  await ok(['user', 'allow', login, '--plan', 'small']);
  const node2 = cluster.nodes[1] as NetnsEngine;
  proxy = await stallingProxy(join(dir, 'node2.sock'), node2.host.replace(/^unix:\/\//, ''));
  await ok(['node', 'engine', cluster.hostnames[1] as string, `unix://${join(dir, 'node2.sock')}`]);
  // The VM goes to node 2 (node 1 drained while it is made), with a home of a few MB.
  await ok(['node', 'drain', cluster.hostnames[0] as string]);
  await ok(['vm', 'create', login]);
  await ok(['node', 'activate', cluster.hostnames[0] as string]);
  await ok(['vm', 'exec', login, '--', 'sh', '-c', 'head -c 4000000 /dev/urandom > big && echo kept-on-node2 > note']);
}, 180_000);

afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((r) => (proxy ? proxy.close(() => r(undefined)) : r(undefined)));
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('vm move when the copy stalls', () => {
  it('fails with COPY_STALLED after the stall deadline; the VM runs on its old node with its home, the partial copy is gone', async () => {
    expect((await vmNow()).node).toBe(cluster.ids[1]);
    control.stall = true;
    const started = Date.now();
    const r = await b(['vm', 'move', login, '--to', cluster.hostnames[0] as string, '--json'], { BERTH_MOVE_STALL_MS: '3000' });
    const took = Date.now() - started;
    control.stall = false;
    console.log(`vm move with a stalled copy failed in ${took} ms`);
    expect(control.stalled).toBe(1);
    expect(r.code, r.stderr).toBe(1);
    const error = errorOf(r);
    expect(error.code).toBe('COPY_STALLED');
    expect(error.message).toMatch(
      new RegExp(`home of VM ${login}/main from node ${cluster.hostnames[1]} to node ${cluster.hostnames[0]} stalled`),
    );
    expect(error.message).toMatch(/no bytes for 3 s/);
    expect(took).toBeLessThan(60_000);

    // Nothing lost: the VM runs on node 2, pinned there, with its files.
    const vm = await vmNow();
    expect([vm.node, vm.state]).toEqual([cluster.ids[1], 'running']);
    expect(await ok(['vm', 'exec', login, '--', 'cat', 'note'])).toContain('kept-on-node2');
    expect(await ok(['vm', 'exec', login, '--', 'stat', '-c', '%s', 'big'])).toContain('4000000');
    const [service] = (await cluster.manager.docker.listServices({ filters: { label: [`dev.berth.user=${login}`] } })) as Array<{
      Spec: { TaskTemplate: { Placement: { Constraints: string[] } } };
    }>;
    expect(service?.Spec.TaskTemplate.Placement.Constraints).toEqual([`node.id==${cluster.ids[1]}`]);
    // The half-written volume and the copy helpers are gone from node 1; node 2 keeps only the VM's own container.
    const node1 = cluster.nodes[0] as NetnsEngine;
    expect(((await node1.docker.listVolumes()).Volumes ?? []).filter((v) => v.Labels?.['dev.berth.user'] === login)).toEqual([]);
    expect(await node1.docker.listContainers({ all: true, filters: { label: ['dev.berth.managed=true'] } })).toEqual([]);
    const node2 = cluster.nodes[1] as NetnsEngine;
    const onNode2 = await node2.docker.listContainers({ all: true, filters: { label: ['dev.berth.managed=true'] } });
    expect(onNode2.filter((c) => !c.Labels['dev.berth.user'])).toEqual([]);
  }, 120_000);

  it('the same move, with nothing stalling, takes the VM and its home to node 1', async () => {
    const moved = VmViewSchema.parse(JSON.parse(await ok(['vm', 'move', login, '--to', cluster.hostnames[0] as string, '--json'])));
    expect([moved.node, moved.state]).toEqual([cluster.ids[0], 'running']);
    expect(await ok(['vm', 'exec', login, '--', 'cat', 'note'])).toContain('kept-on-node2');
    expect(await ok(['vm', 'exec', login, '--', 'stat', '-c', '%s', 'big'])).toContain('4000000');
  }, 120_000);
});
