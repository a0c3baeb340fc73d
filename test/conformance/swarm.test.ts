import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBerth } from '../../src/services/engine/open.js';
import { appBaseImages } from '../helpers/app-images.js';
import { BIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';
import { docker, MINIMAL_IMAGE } from '../helpers/docker.js';
import { brokenImage } from '../helpers/images.js';
import { dockerdPid, type NetnsEngine } from '../helpers/netns-engine.js';
import { type SwarmCluster, startSwarm } from '../helpers/swarm-cluster.js';
import { type AppHarness, appConformance } from './app-cases.js';
import { timed, type VmHarness } from './harness.js';
import { vmConformance } from './vm-cases.js';

/**
 * The conformance cases on a three-node Swarm (test/helpers/swarm-cluster.ts), one cluster for the
 * file: berth on the manager with `config engine swarm`, each worker's engine known to it. The
 * cases' plan reserves 60% of a node's memory, so that a node holds one of its VMs at a time.
 */
let cluster: SwarmCluster;
let dir = '';
let home = '';
let instance = '';
let broken = '';
const plan = { name: 'conf', cpu: 0.5, memoryBytes: 0, pids: 200 };
const byUser = (login: string) => ({ label: [`dev.berth.user=${login}`] });

/** The running container of the user's VM, on whichever node runs it. */
async function running(login: string): Promise<{ node: NetnsEngine; id: string } | null> {
  for (const node of cluster.nodes) {
    const [c] = await node.docker.listContainers({ filters: byUser(login) });
    if (c) return { node, id: c.Id };
  }
  return null;
}

const harness: VmHarness & AppHarness = {
  name: 'three-node Swarm',
  setupTimeoutMs: 300_000,
  engines: 3,
  plan,
  unfit: { plan: 'unfit', code: 'NO_NODE_FITS', message: /No Swarm node can take VM/ },
  get brokenImage() {
    return broken;
  },
  runsProcesses: true,
  freezes: true,
  instanceId: () => instance,
  berth: (args, options = {}) =>
    timed('nsenter', [`--net=/run/netns/${cluster.manager.netns}`, 'node', BIN, ...args], {
      env: { BERTH_HOME: home, NO_COLOR: '1', DOCKER_HOST: cluster.manager.host },
      input: options.input,
      timeoutMs: options.timeoutMs,
    }),
  setup: async () => {
    broken = await brokenImage();
    cluster = await startSwarm({ images: [MINIMAL_IMAGE, broken] });
    console.log(`swarm of 3 up in ${cluster.bringUpMs} ms`);
    dir = await mkdtemp(join(tmpdir(), 'berth-conf-swarm-'));
    home = join(dir, 'h');
    const memory = Number((await cluster.manager.docker.info()).MemTotal);
    const ram = Math.floor((memory * 0.6) / 2 ** 20);
    plan.memoryBytes = ram * 2 ** 20;
    const steps = [
      ['init'],
      ['config', 'set', 'image', MINIMAL_IMAGE],
      ['config', 'set', 'engine', 'swarm'],
      ['config', 'set', 'disk', '0'],
      ['config', 'set', 'rootfs', '0'],
      // berth's firewall rules on every node: test/integration/swarm-firewall.test.ts.
      ['config', 'set', 'network.firewall', 'off'],
      ['plan', 'add', plan.name, '--cpu', String(plan.cpu), '--ram', `${ram}m`, '--pids', String(plan.pids)],
      ['plan', 'add', 'unfit', '--cpu', '1000', '--ram', '64m'],
      ...[1, 2].map((i) => ['node', 'engine', cluster.hostnames[i] as string, (cluster.nodes[i] as NetnsEngine).host]),
    ];
    for (const args of steps) {
      const r = await harness.berth(args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    }
    instance = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')).instanceId as string;
  },
  setupApps: async () => {
    // Built on this host, loaded on the manager only: a node an app lands on gets it from there.
    const bases = await appBaseImages(join(dir, 'bases'));
    await cluster.manager.docker.loadImage(await docker.getImage(bases.python).get());
    const r = await harness.berth(['config', 'set', 'apps.python-image', bases.python]);
    if (r.code !== 0) throw new Error(r.stderr);
  },
  appContainer: async (login) => {
    for (const [i, node] of cluster.nodes.entries()) {
      const [c] = await node.docker.listContainers({ all: true, filters: { label: [`dev.berth.user=${login}`, 'dev.berth.app'] } });
      if (c) return { info: await node.docker.getContainer(c.Id).inspect(), engine: i };
    }
    return null;
  },
  context: () => {
    // As berth on the manager: its engine (the node engines are in the state).
    process.env.DOCKER_HOST = cluster.manager.host;
    return openBerth(home);
  },
  appImages: async (login) => {
    const tags: string[] = [];
    for (const node of cluster.nodes)
      tags.push(
        ...(await node.docker.listImages({ filters: { label: [`dev.berth.user=${login}`, 'dev.berth.app'] } })).flatMap(
          (i) => i.RepoTags ?? [],
        ),
      );
    return tags;
  },
  teardown: async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  },
  workload: async (login) => {
    const found = await running(login);
    if (!found) return null;
    const info = await found.node.docker.getContainer(found.id).inspect();
    return {
      id: info.Id,
      running: info.State.Running,
      hostConfig: info.HostConfig,
      labels: info.Config.Labels ?? {},
      mounts: info.Mounts as Array<{ Type?: string; Name?: string; Source?: string; Destination: string }>,
    };
  },
  homeVolume: async (login) => {
    const found = [];
    for (const node of cluster.nodes) found.push(...((await node.docker.listVolumes({ filters: byUser(login) })).Volumes ?? []));
    if (found.length > 1) throw new Error(`${login} has ${found.length} home volumes: ${found.map((v) => v.Name).join(', ')}`);
    return found[0] ? { name: found[0].Name, labels: found[0].Labels ?? {} } : null;
  },
  leftovers: async (login) => {
    const left = ((await cluster.manager.docker.listServices({ filters: byUser(login) })) as Array<{ Spec?: { Name?: string } }>).map(
      (s) => `service ${s.Spec?.Name}`,
    );
    for (const [i, node] of cluster.nodes.entries()) {
      for (const c of await node.docker.listContainers({ all: true, filters: byUser(login) }))
        left.push(`container ${c.Names[0]} on node ${i + 1}`);
      for (const v of (await node.docker.listVolumes({ filters: byUser(login) })).Volumes ?? [])
        left.push(`volume ${v.Name} on node ${i + 1}`);
    }
    return left;
  },
  removeWorkload: async (login) => {
    const services = (await cluster.manager.docker.listServices({ filters: byUser(login) })) as Array<{ ID: string }>;
    if (services.length !== 1) throw new Error(`${login} has ${services.length} services`);
    await cluster.manager.docker.getService((services[0] as { ID: string }).ID).remove();
    // Gone for good: no container of the VM on any node, running or not.
    await waitFor(
      `${login}'s containers gone with its service`,
      async () => {
        for (const node of cluster.nodes)
          if ((await node.docker.listContainers({ all: true, filters: byUser(login) })).length) return false;
        return true;
      },
      30_000,
    );
  },
  freeze: async (logins) => {
    // A VM on a worker: the manager's engine is the cluster's (berth reaches every node through it).
    for (const login of logins) {
      const found = await running(login);
      if (!found || found.node === cluster.manager) continue;
      const pid = await dockerdPid(found.node);
      process.kill(pid, 'SIGSTOP');
      return { login, thaw: async () => void process.kill(pid, 'SIGCONT') };
    }
    throw new Error('no VM of these users runs on a worker');
  },
};

vmConformance(harness);
appConformance(harness);
