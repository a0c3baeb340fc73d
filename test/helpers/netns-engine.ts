import { mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa, type ResultPromise } from 'execa';
import { BIN } from './cli.js';

/**
 * A second Docker engine (dockerd 20.10 and a containerd of its own) in a network namespace
 * the test makes, so that a test can restart an engine, and see that engine's iptables,
 * without touching the host's. berth runs in the same namespace (`berth()`), so its rules go
 * into that namespace's firewall.
 *
 * The processes enter only the network namespace (nsenter --net), not a mount namespace:
 * `ip netns exec` also remounts /sys, which hides the cgroup v1 hierarchies and dockerd then
 * refuses to start ("Devices cgroup isn't mounted"). Everything is removed by `stop()`:
 * processes, mounts under its directory, its cgroups, the namespace and the directory.
 */
export interface NetnsEngine {
  netns: string;
  dir: string;
  /** unix:// address of the engine. */
  host: string;
  docker: Docker;
  /** Runs a program in the namespace. */
  exec(file: string, args: string[], options?: { env?: Record<string, string>; input?: string }): Promise<NsRun>;
  /** The built berth CLI in the namespace, with DOCKER_HOST at this engine. */
  berth(home: string, args: string[], env?: Record<string, string>): Promise<NsRun>;
  /** Stops dockerd (SIGTERM, as systemctl restart does) and starts it again; waits until it answers. */
  restartDocker(): Promise<void>;
  /** Stops dockerd (SIGTERM); containerd and the containers' shims stay. */
  stopDocker(): Promise<void>;
  /** Starts a stopped dockerd again; waits until it answers. */
  startDocker(): Promise<void>;
  stop(): Promise<void>;
}

export interface NsRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether the process has ended (execa 10's subprocess is a promise; its ChildProcess says). */
const ended = (child: ResultPromise) => child.nodeChildProcess.exitCode !== null || child.nodeChildProcess.signalCode !== null;

async function exited(child: ResultPromise, timeoutMs: number): Promise<void> {
  if (ended(child)) return;
  const done = new Promise<void>((resolve) => child.nodeChildProcess.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(timer);
}

export interface NetnsEngineOptions {
  images?: string[];
  /** Runs once the namespace exists, before the engine starts (links, addresses). */
  setup?: (netns: string) => Promise<void>;
  /** The host name dockerd sees (its own UTS namespace): a Swarm node's name. */
  hostname?: string;
  /** Written as the engine's daemon.json. */
  daemonConfig?: Record<string, unknown>;
}

export async function startNetnsEngine(options: NetnsEngineOptions = {}): Promise<NetnsEngine> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const netns = `berth-t-${suffix}`;
  const cgroupParent = `berth-netns-${suffix}`;
  // On the same file system as /var/lib/docker (overlay2 needs a real one), and short enough for socket paths.
  const dir = await mkdtemp('/tmp/berth-netns-');
  const socket = join(dir, 'docker.sock');
  const nsenter = [`--net=/run/netns/${netns}`];
  let containerd: ResultPromise | null = null;
  let dockerd: ResultPromise | null = null;

  const spawn = (file: string, args: string[], log: string) =>
    execa('nsenter', [...nsenter, file, ...args], {
      reject: false,
      stdin: 'ignore',
      stdout: { file: join(dir, log), append: true },
      stderr: { file: join(dir, log), append: true },
    });

  const docker = new Docker({ socketPath: socket });
  const startDockerd = async () => {
    // In a UTS namespace of its own when it has a name (a Swarm node's hostname).
    const named = options.hostname ? ['unshare', ['--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', options.hostname, 'dockerd']] : null;
    dockerd = spawn(
      named ? 'unshare' : 'dockerd',
      [
        ...(named ? (named[1] as string[]) : []),
        '--config-file',
        join(dir, 'daemon.json'),
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
        '-H',
        `unix://${socket}`,
        '--containerd',
        join(dir, 'containerd.sock'),
        '--bridge',
        'none',
        '--cgroup-parent',
        cgroupParent,
      ],
      'dockerd.log',
    );
    await waitFor(
      'the netns dockerd to answer',
      async () => {
        if (!dockerd || ended(dockerd)) throw new Error(`dockerd exited: ${await readFile(join(dir, 'dockerd.log'), 'utf8')}`);
        await docker.version();
        return true;
      },
      30_000,
    );
  };

  const engine: NetnsEngine = {
    netns,
    dir,
    host: `unix://${socket}`,
    docker,
    exec: async (file, args, opts = {}) => {
      const r = await execa('nsenter', [...nsenter, file, ...args], {
        reject: false,
        env: opts.env,
        input: opts.input,
        stdin: opts.input === undefined ? 'ignore' : undefined,
        timeout: 120_000,
      });
      return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    berth: (home, args, env = {}) =>
      engine.exec('node', [BIN, ...args], { env: { BERTH_HOME: home, NO_COLOR: '1', DOCKER_HOST: engine.host, ...env } }),
    restartDocker: async () => {
      if (dockerd) await exited(dockerd, 20_000);
      await startDockerd();
    },
    stopDocker: async () => {
      if (dockerd) await exited(dockerd, 20_000);
    },
    startDocker: () => startDockerd(),
    stop: async () => {
      if (dockerd) await exited(dockerd, 20_000).catch(() => undefined);
      if (containerd) await exited(containerd, 10_000).catch(() => undefined);
      // Shims and anything else still running from this directory (ours alone: the path is unique).
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(dir)) process.kill(Number(pid), 'SIGKILL');
      }
      const mounts = (await readFile('/proc/self/mounts', 'utf8'))
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${dir}/`))
        .reverse();
      for (const m of mounts) await execa('umount', ['-l', m], { reject: false });
      for (const controller of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
        await removeCgroup(join('/sys/fs/cgroup', controller, cgroupParent));
      }
      await execa('ip', ['netns', 'del', netns], { reject: false });
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await execa('ip', ['netns', 'add', netns]);
    await engine.exec('ip', ['link', 'set', 'lo', 'up']);
    await options.setup?.(netns);
    await writeFile(join(dir, 'daemon.json'), JSON.stringify(options.daemonConfig ?? {}));
    await writeFile(
      join(dir, 'containerd.toml'),
      [
        'version = 2',
        `root = "${join(dir, 'containerd-root')}"`,
        `state = "${join(dir, 'containerd-state')}"`,
        '[grpc]',
        `  address = "${join(dir, 'containerd.sock')}"`,
        '[ttrpc]',
        `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '',
      ].join('\n'),
    );
    containerd = spawn('containerd', ['--config', join(dir, 'containerd.toml')], 'containerd.log');
    await waitFor('the netns containerd socket', async () => (await readdir(dir)).includes('containerd.sock'), 20_000);
    await startDockerd();
    for (const image of options.images ?? []) {
      const saved = execa('docker', ['save', image], { encoding: 'buffer', buffer: false });
      await docker
        .loadImage(saved.stdout as NodeJS.ReadableStream)
        .then(
          (stream) => new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(null)))),
        );
      await saved;
    }
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}

/** The pid of the engine's dockerd (by its directory), for a test that freezes it (SIGSTOP: its socket accepts, nothing answers). */
export async function dockerdPid(engine: Pick<NetnsEngine, 'dir'>): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if ((cmdline.split('\0')[0] ?? '').endsWith('dockerd') && cmdline.includes(engine.dir)) return Number(entry);
  }
  throw new Error(`no dockerd runs from ${engine.dir}`);
}

async function removeCgroup(path: string): Promise<void> {
  const children = await readdir(path, { withFileTypes: true }).catch(() => null);
  if (!children) return;
  for (const c of children) if (c.isDirectory()) await removeCgroup(join(path, c.name));
  await rmdir(path).catch(() => undefined);
}
