// Small helpers shared by the benchmark sections.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

function once(cmd, args, env) {
  const start = performance.now();
  const result = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${result.stderr}`);
  return elapsed;
}

/**
 * Wall time of whole processes, in milliseconds. The commands take turns, run after
 * run, so that a noisy moment on the machine falls on all of them alike.
 */
export function timeProcesses(commands, { runs = 15, env = {} } = {}) {
  const times = commands.map(() => []);
  for (const [cmd, args] of commands) once(cmd, args, env); // warm the disk cache
  for (let i = 0; i < runs; i++) {
    commands.forEach(([cmd, args], k) => {
      times[k].push(once(cmd, args, env));
    });
  }
  return times;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const ms = (value) => `${value.toFixed(1)} ms`;

const lines = (out) => out.split('\n').filter(Boolean);

/** What a bench home made on the host besides Docker objects: its firewall rules and quota disks. */
function releaseHostObjects(bin, env, home) {
  spawnSync('node', [bin, 'network', 'remove'], { env: { ...process.env, ...env } });
  const loops = spawnSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }).stdout;
  for (const d of loops ? JSON.parse(loops).loopdevices : []) {
    if (d['back-file']?.startsWith(`${join(home, 'disks')}/`)) spawnSync('losetup', ['--detach', d.name]);
  }
}

/**
 * Removes the containers, volumes and network a benchmark made: those of its own berth home
 * (`instance`) labelled dev.berth.user=bench, never another home's or another process's.
 */
export function removeBenchObjects({ instance, network, volumes = [], bin, env, home }) {
  const docker = (...args) => spawnSync('docker', args, { encoding: 'utf8' }).stdout ?? '';
  const mine = ['--filter', `label=dev.berth.instance=${instance}`, '--filter', 'label=dev.berth.user=bench'];
  const ids = instance ? lines(docker('ps', '-aq', ...mine)) : [];
  if (ids.length) docker('rm', '-f', ...ids);
  const vols = [...(instance ? lines(docker('volume', 'ls', '-q', ...mine)) : []), ...volumes];
  if (vols.length) docker('volume', 'rm', '-f', ...vols);
  if (home) releaseHostObjects(bin, env, home);
  docker('network', 'rm', network);
}

/**
 * A berth home for a benchmark whose VMs run the minimal image on a network of their own;
 * `cleanup()` stops its daemon and removes every Docker object of this home (by its
 * instance label), the network and the directory.
 */
export function benchHome({ bin, root, prefix, env: extraEnv = {} }) {
  const dir = mkdtempSync(join(tmpdir(), `berth-bench-${prefix}-`));
  const home = join(dir, 'home');
  const env = { ...process.env, BERTH_HOME: home, ...extraEnv };
  const network = `berth-bench-${prefix}${process.pid}`;
  const berth = (...args) => {
    const r = spawnSync('node', [bin, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  execFileSync('bash', [join(root, 'scripts', 'base-images.sh'), 'busybox'], { stdio: 'ignore' });
  berth('init');
  berth('image', 'build', '--template', 'minimal');
  berth('config', 'set', 'image', 'berth-vm-minimal:latest');
  berth('config', 'set', 'docker.network', network);
  const cleanup = () => {
    spawnSync('node', [bin, 'daemon', 'stop'], { env });
    let instance = null;
    try {
      instance = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).instanceId;
    } catch {
      instance = null;
    }
    if (instance) {
      const docker = (...args) => spawnSync('docker', args, { encoding: 'utf8', timeout: 300_000 }).stdout ?? '';
      const label = `label=dev.berth.instance=${instance}`;
      const ids = lines(docker('ps', '-aq', '--filter', label));
      if (ids.length) docker('rm', '-f', ...ids);
      const vols = lines(docker('volume', 'ls', '-q', '--filter', label));
      if (vols.length) docker('volume', 'rm', '-f', ...vols);
      // Apps' images (their builds) carry the home's label too.
      const images = lines(docker('images', '-q', '--filter', label));
      if (images.length) docker('rmi', '-f', ...new Set(images));
    }
    // This home's firewall rules and quota disks (and no one else's).
    releaseHostObjects(bin, env, home);
    spawnSync('docker', ['network', 'rm', network]);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, home, env, network, berth, cleanup };
}

/**
 * `docker run -d` with what berth asks the engine for a VM: the same limits, hardening, network,
 * home volume and labels (the baseline of the create benchmarks).
 */
export function dockerRunArgs({ name, hostname, network, memory, cpus, pids = 512, volume, user, labels, image }) {
  return [
    'run',
    '-d',
    '--name',
    name,
    '--hostname',
    hostname,
    '--init',
    '--cap-drop',
    'ALL',
    ...['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL', 'NET_BIND_SERVICE', 'AUDIT_WRITE'].flatMap((c) => [
      '--cap-add',
      c,
    ]),
    '--security-opt',
    'no-new-privileges:true',
    '--memory',
    memory,
    '--memory-swap',
    memory,
    '--cpus',
    cpus,
    '--pids-limit',
    String(pids),
    '--network',
    network,
    '--restart',
    'unless-stopped',
    '--log-opt',
    'max-size=10m',
    '--log-opt',
    'max-file=3',
    '--mount',
    `type=volume,source=${volume},target=/home/${user}`,
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '-e',
    `BERTH_USER=${user}`,
    '-e',
    'BERTH_SUDO=0',
    '-w',
    `/home/${user}`,
    image,
  ];
}

/** A TCP port free on 127.0.0.1 a moment ago (for a listener a benchmark configures). */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
