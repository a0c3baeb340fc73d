import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { type NetnsEngine, startNetnsEngine } from './netns-engine.js';

/**
 * A real Docker Swarm of `size` nodes on this machine: each node a dockerd (own containerd,
 * data root, exec root, socket, host name) in a network namespace of its own, joined by veth
 * pairs to a bridge in one more namespace (the "switch"), with addresses of 192.168.250.0/24
 * that exist only inside those namespaces. Node 0 is the manager (`swarm init`), the others join
 * as workers. `stop()` removes all of it: the engines (netns-engine's cleanup), the switch.
 */
export interface SwarmCluster {
  nodes: NetnsEngine[];
  /** Each node's Swarm id, in the order of `nodes`. */
  ids: string[];
  hostnames: string[];
  manager: NetnsEngine;
  /** The "switch" namespace: the bridge br0 the nodes' eth0 are joined to (no address of its own). */
  hub: string;
  /** How long bring-up took (engines, swarm init and joins, images loaded). */
  bringUpMs: number;
  /** What the nodes' dockerd and containerd processes hold in memory (RSS, summed). */
  memoryBytes(): Promise<number>;
  stop(): Promise<void>;
}

const SUBNET = '192.168.250';

export async function startSwarm(options: {
  size?: number;
  images: string[];
  daemonConfig?: (i: number) => Record<string, unknown>;
}): Promise<SwarmCluster> {
  const started = Date.now();
  const size = options.size ?? 3;
  const tag = Math.random().toString(36).slice(2, 7);
  const hub = `berth-sw-${tag}`;
  const nodes: NetnsEngine[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await execa('ip', ['netns', 'del', hub], { reject: false });
  };
  try {
    await execa('ip', ['netns', 'add', hub]);
    const inHub = (args: string[]) => execa('ip', ['netns', 'exec', hub, ...args]);
    await inHub(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inHub(['ip', 'link', 'set', 'br0', 'up']);
    await inHub(['ip', 'link', 'set', 'lo', 'up']);
    const hostnames = Array.from({ length: size }, (_, i) => `berth-node${i + 1}-${tag}`);
    // One at a time: the engines start faster without competing for the two cores.
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startNetnsEngine({
          images: options.images,
          hostname: hostnames[i],
          daemonConfig: options.daemonConfig?.(i) ?? { 'no-new-privileges': true },
          setup: async (netns) => {
            const outer = `sw${tag}${i}h`;
            const inner = `sw${tag}${i}n`;
            await execa('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
            await execa('ip', ['link', 'set', outer, 'netns', hub]);
            await execa('ip', ['link', 'set', inner, 'netns', netns]);
            await inHub(['ip', 'link', 'set', outer, 'master', 'br0']);
            await inHub(['ip', 'link', 'set', outer, 'up']);
            const inNode = (args: string[]) => execa('nsenter', [`--net=/run/netns/${netns}`, ...args]);
            await inNode(['ip', 'link', 'set', inner, 'name', 'eth0']);
            await inNode(['ip', 'addr', 'add', `${SUBNET}.${10 + i}/24`, 'dev', 'eth0']);
            await inNode(['ip', 'link', 'set', 'eth0', 'up']);
          },
        }),
      );
    }
    const manager = nodes[0] as NetnsEngine;
    const init = await manager.exec('docker', ['-H', manager.host, 'swarm', 'init', '--advertise-addr', `${SUBNET}.10`]);
    if (init.code !== 0) throw new Error(`swarm init: ${init.stderr}`);
    const token = await manager.exec('docker', ['-H', manager.host, 'swarm', 'join-token', '-q', 'worker']);
    for (let i = 1; i < size; i++) {
      const node = nodes[i] as NetnsEngine;
      const join = await node.exec('docker', [
        '-H',
        node.host,
        'swarm',
        'join',
        '--advertise-addr',
        `${SUBNET}.${10 + i}`,
        '--token',
        token.stdout.trim(),
        `${SUBNET}.10:2377`,
      ]);
      if (join.code !== 0) throw new Error(`swarm join of node ${i + 1}: ${join.stderr}`);
    }
    const ids = await Promise.all(nodes.map(async (n) => String(((await n.docker.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID)));
    // Every node ready at the manager before the tests place anything.
    const end = Date.now() + 60_000;
    for (;;) {
      const listed = (await manager.docker.listNodes()) as Array<{ Status?: { State?: string } }>;
      if (listed.length === size && listed.every((n) => n.Status?.State === 'ready')) break;
      if (Date.now() > end) throw new Error('swarm nodes not ready within 60 s');
      await new Promise((r) => setTimeout(r, 300));
    }
    const memoryBytes = async () => {
      let total = 0;
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        const program = (cmdline.split('\0')[0] ?? '').split('/').pop() ?? '';
        if (!['dockerd', 'containerd'].includes(program) || !nodes.some((n) => cmdline.includes(n.dir))) continue;
        const rss = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
        total += Number(rss?.[1] ?? 0) * 1024;
      }
      return total;
    };
    return { nodes, ids, hostnames, manager, hub, bringUpMs: Date.now() - started, memoryBytes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
