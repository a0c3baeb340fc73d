import { openBerth } from '../../src/services/engine/open.js';
import { appBaseImages } from '../helpers/app-images.js';
import { BIN } from '../helpers/cli.js';
import { docker, type VmHome, vmHome } from '../helpers/docker.js';
import { type FreezableSocket, freezableSocket } from '../helpers/freezable-socket.js';
import { brokenImage } from '../helpers/images.js';
import { type AppHarness, appConformance } from './app-cases.js';
import { timed, type VmHarness, type Workload } from './harness.js';
import { vmConformance } from './vm-cases.js';

/**
 * The conformance cases on the local engine (the host's dockerd), which berth reaches through a
 * freezable proxy of its socket (config docker.host): the tests read the engine directly.
 */
let home: VmHome;
let proxy: FreezableSocket;
let broken = '';
const plan = { name: 'conf', cpu: 0.5, memoryBytes: 64 * 2 ** 20, pids: 200 };

const mine = (login: string) => [`dev.berth.instance=${home.instanceId}`, `dev.berth.user=${login}`];
async function container(login: string) {
  const [c] = await docker.listContainers({ all: true, filters: { label: mine(login) } });
  return c ? docker.getContainer(c.Id).inspect() : null;
}

const harness: VmHarness & AppHarness = {
  name: 'local engine',
  setupTimeoutMs: 120_000,
  engines: 1,
  plan,
  unfit: { plan: 'unfit', code: 'CPU_EXCEEDS_HOST', message: /asks for 1000 CPUs, but the Docker host has \d+/ },
  get brokenImage() {
    return broken;
  },
  runsProcesses: true,
  freezes: true,
  instanceId: () => home.instanceId,
  berth: (args, options = {}) =>
    timed('node', [BIN, ...args], { env: { BERTH_HOME: home.home, NO_COLOR: '1' }, input: options.input, timeoutMs: options.timeoutMs }),
  setup: async () => {
    home = await vmHome();
    proxy = await freezableSocket('/var/run/docker.sock');
    broken = await brokenImage();
    for (const args of [
      ['config', 'set', 'docker.host', proxy.host],
      ['plan', 'add', plan.name, '--cpu', String(plan.cpu), '--ram', '64m', '--pids', String(plan.pids)],
      ['plan', 'add', 'unfit', '--cpu', '1000', '--ram', '64m'],
    ]) {
      const r = await harness.berth(args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    }
  },
  setupApps: async () => {
    const bases = await appBaseImages(home.home);
    const r = await harness.berth(['config', 'set', 'apps.python-image', bases.python]);
    if (r.code !== 0) throw new Error(r.stderr);
  },
  appContainer: async (login) => {
    const [c] = await docker.listContainers({ all: true, filters: { label: [...mine(login), 'dev.berth.app'] } });
    return c ? { info: await docker.getContainer(c.Id).inspect(), engine: 0 } : null;
  },
  context: () => openBerth(home.home),
  appImages: async (login) =>
    (await docker.listImages({ filters: { label: [...mine(login), 'dev.berth.app'] } })).flatMap((i) => i.RepoTags ?? []),
  teardown: async () => {
    proxy?.thaw();
    await home?.cleanup();
    await proxy?.close();
  },
  workload: async (login) => {
    const info = await container(login);
    if (!info) return null;
    return {
      id: info.Id,
      running: info.State.Running,
      hostConfig: info.HostConfig,
      labels: info.Config.Labels ?? {},
      mounts: info.Mounts as Workload['mounts'],
    };
  },
  homeVolume: async (login) => {
    const [v] = (await docker.listVolumes({ filters: { label: mine(login) } })).Volumes ?? [];
    return v ? { name: v.Name, labels: v.Labels ?? {} } : null;
  },
  leftovers: async (login) => [
    ...(await docker.listContainers({ all: true, filters: { label: mine(login) } })).map((c) => `container ${c.Names[0]}`),
    ...((await docker.listVolumes({ filters: { label: mine(login) } })).Volumes ?? []).map((v) => `volume ${v.Name}`),
  ],
  removeWorkload: async (login) => {
    const info = await container(login);
    if (!info) throw new Error(`${login} has no container`);
    await docker.getContainer(info.Id).remove({ force: true });
  },
  freeze: async (logins) => {
    proxy.freeze();
    return { login: logins[0] as string, thaw: async () => proxy.thaw() };
  },
};

vmConformance(harness);
appConformance(harness);
