// `berth vm create` against `docker run -d` with the same flags, and `berth vm exec VM true`
// against `docker exec CID true`: whole processes, interleaved, on the minimal image.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dockerRunArgs, median, ms, removeBenchObjects } from './measure.js';

export const title = 'VM create and exec against plain Docker';

const IMAGE = 'berth-vm-minimal:latest';

function timed(cmd, args, env) {
  const start = performance.now();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const elapsed = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { elapsed, stdout: r.stdout.trim() };
}

export async function run({ bin, runs, root }) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const env = { BERTH_HOME: join(dir, 'home') };
  const network = `berth-bench-${process.pid}`;
  const berth = (...args) => timed('node', [bin, ...args], env);
  let instance = null;
  try {
    execFileSync('bash', [join(root, 'scripts', 'base-images.sh'), 'busybox'], { stdio: 'ignore' });
    berth('init');
    berth('image', 'build', '--template', 'minimal');
    berth('config', 'set', 'image', IMAGE);
    berth('config', 'set', 'docker.network', network);
    berth('plan', 'add', 'bench', '--cpu', '0.5', '--ram', '64m', '--max-vms', String(runs + 2));
    berth('user', 'allow', 'bench', '--plan', 'bench');
    instance = JSON.parse(readFileSync(join(dir, 'home', 'state.json'), 'utf8')).instanceId;
    berth('vm', 'create', 'bench', '--name', 'warm');

    const create = { berth: [], docker: [] };
    for (let i = 0; i < runs; i++) {
      create.berth.push(berth('vm', 'create', 'bench', '--name', `b${i}`).elapsed);
      const labels = Object.fromEntries(
        ['managed=true', `instance=${instance}`, 'user=bench', `vm=d${i}`, 'plan=bench']
          .map((l) => l.split('='))
          .map(([k, v]) => [`dev.berth.${k}`, v]),
      );
      // What berth asks the engine for, as a docker run: same limits, hardening, network, volume, labels.
      const flags = dockerRunArgs({
        name: `berth-bench-d${i}`,
        hostname: `bench-d${i}`,
        network,
        memory: '64m',
        cpus: '0.5',
        volume: `berth-bench-d${i}-home`,
        user: 'bench',
        labels,
        image: IMAGE,
      });
      create.docker.push(timed('docker', flags).elapsed);
    }
    // Container names are opaque ids: berth says which is the VM's.
    const cid = JSON.parse(berth('vm', 'show', 'bench/warm', '--json').stdout).containerId;
    const exec = { berth: [], docker: [] };
    berth('vm', 'exec', 'bench/warm', '--', 'true');
    for (let i = 0; i < runs; i++) {
      exec.berth.push(berth('vm', 'exec', 'bench/warm', '--', 'true').elapsed);
      exec.docker.push(timed('docker', ['exec', '-u', '1000:1000', cid, 'true']).elapsed);
    }
    const row = (name, ours, theirs, baseline) =>
      `| ${name} | ${ms(median(ours))} | ${ms(median(theirs))} | ${(median(ours) / median(theirs)).toFixed(2)}× | ${baseline} |`;
    return [
      '| operation | berth | plain Docker | ratio | baseline command |',
      '|---|---|---|---|---|',
      row('create + start a VM', create.berth, create.docker, '`docker run -d` with the same limits, caps, network, volume, labels'),
      row('run `true` in a VM', exec.berth, exec.docker, '`docker exec -u 1000:1000 CID true`'),
      '',
      `Median of ${runs} runs each, whole processes (berth's include Node and CLI start-up, see above), interleaved. Targets: create ≤ 1.6×, exec ≤ 2.5×. \`berth vm exec VM -- CMD\` runs without oclif (bin/run.js) and without dockerode.`,
    ].join('\n');
  } finally {
    removeBenchObjects({
      instance,
      network,
      volumes: Array.from({ length: runs }, (_, i) => `berth-bench-d${i}-home`),
      bin,
      env,
      home: join(dir, 'home'),
    });
    rmSync(dir, { recursive: true, force: true });
  }
}
