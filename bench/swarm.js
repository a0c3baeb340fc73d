// N VMs over a real three-node Swarm (issue 17): the cluster of test/helpers/swarm-cluster.ts (three
// dockerds, each in a network namespace of its own, on this machine), berth on the manager with
// `config engine swarm`, N users with one VM each on the minimal image, then
//   create       `berth vm create` P at a time  vs  `docker service create --detach` (same limits,
//                caps, network, mount, labels) and `docker service ps` until its task runs (as berth
//                waits), P at a time, interleaved in rounds of P
//   vm list      `berth vm list --all` with N VMs  vs  `docker service ls` + `docker ps -a` on each node
//   placement    VMs and reserved memory per node (Swarm's spread, as berth pins it)
//   memory       the nodes' dockerd + containerd RSS, and the host's MemAvailable, before and after
// N: BENCH_SWARM_N or --swarm-n=N (default 100). Everything (the cluster: engines, namespaces,
// their data; the berth home) is removed at the end, also on Ctrl-C or SIGTERM.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, ms, percentile } from './measure.js';

export const title = 'VMs over a three-node Swarm';

const IMAGE = 'berth-vm-minimal:latest';
/** `vm create` processes at once (the CLI creates one VM per call; an operator's script runs a few at a time). */
const PARALLEL = 4;
const LIST_RUNS = Number(process.env.BENCH_SWARM_LIST_RUNS || 7);
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL', 'NET_BIND_SERVICE', 'AUDIT_WRITE'];

function wantedN() {
  const flag = process.argv.find((a) => a.startsWith('--swarm-n='));
  const n = Number(flag ? flag.split('=')[1] : process.env.BENCH_SWARM_N || 100);
  if (!Number.isInteger(n) || n < 2) throw new Error(`bench swarm: N must be a whole number ≥ 2 (got ${n})`);
  return n;
}

const memAvailableMb = () =>
  Number(
    readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('MemAvailable:'))
      .split(/\s+/)[1],
  ) / 1024;
const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;

/** `items` through `work`, `parallel` at a time: the wall time of all, and each one's. */
async function inParallel(items, parallel, work) {
  const start = performance.now();
  const each = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        const t = performance.now();
        await work(item);
        each.push(performance.now() - t);
      }
    }),
  );
  return { wall: performance.now() - start, each };
}

export async function run({ bin, root }) {
  const n = wantedN();
  const log = (text) => console.error(`bench swarm: ${text}`);
  // The image berth's nodes load (built on the host engine once, as the tests' global setup does).
  const buildHome = mkdtempSync(join(tmpdir(), 'berth-bench-swb-'));
  execFileSync('bash', [join(root, 'scripts', 'base-images.sh'), 'busybox'], { stdio: 'ignore' });
  for (const args of [['init'], ['image', 'build', '--template', 'minimal']])
    execFileSync('node', [bin, ...args], { env: { ...process.env, BERTH_HOME: join(buildHome, 'h') }, stdio: 'ignore' });
  rmSync(buildHome, { recursive: true, force: true });

  // The test harness, in TypeScript: loaded through tsx (a dev dependency, as the tests run it).
  const { register } = await import('tsx/esm/api');
  register();
  const { startSwarm } = await import(join(root, 'test', 'helpers', 'swarm-cluster.ts'));
  const { allowUser } = await import(join(root, 'dist', 'src', 'services', 'users.js'));
  const { StateStore } = await import(join(root, 'dist', 'src', 'state', 'store.js'));

  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-sw-'));
  const home = join(dir, 'h');
  let cluster = null;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await cluster?.stop().catch((err) => log(`cluster stop: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal) => {
    log(`${signal}, removing the cluster…`);
    cleanup().finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);
  try {
    const memHostBefore = memAvailableMb();
    cluster = await startSwarm({ images: [IMAGE] });
    const { manager, nodes, ids, hostnames } = cluster;
    log(`swarm of 3 up in ${cluster.bringUpMs} ms`);
    const nodesRssBefore = await cluster.memoryBytes();
    const berth = async (...args) => {
      const r = await manager.berth(home, args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const docker = async (host, ...args) => {
      const r = await manager.exec('docker', ['-H', host, ...args]);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const timedIn = async (file, args) => {
      const start = performance.now();
      const r = await manager.exec(file, args, { env: { BERTH_HOME: home, NO_COLOR: '1', DOCKER_HOST: manager.host } });
      if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`);
      return performance.now() - start;
    };

    await berth('init');
    for (const [k, v] of [
      ['image', IMAGE],
      ['engine', 'swarm'],
      ['disk', '0'],
      ['rootfs', '0'],
      // Placement and the Swarm calls only: with the firewall on, each create also checks the rules
      // of every node that may take the VM first (a tool container on each, in parallel).
      ['network.firewall', 'off'],
    ])
      await berth('config', 'set', k, v);
    await berth('plan', 'add', 'swarm', '--cpu', '0.02', '--ram', '16m', '--disk', '0', '--rootfs', '0', '--max-vms', '1');
    for (let i = 1; i < 3; i++) await berth('node', 'engine', hostnames[i], nodes[i].host);
    const store = new StateStore(home);
    const logins = Array.from({ length: n }, (_, i) => `w${String(i).padStart(3, '0')}`);
    for (const login of logins) await allowUser(store, login, { plan: 'swarm' });
    const network = JSON.parse(await berth('config', 'get', 'docker.network', '--json')).value;

    // --- create: rounds of P berth VMs, then P docker services, until N of each ---
    log(`creating ${n} VMs and ${n} plain services, ${PARALLEL} at a time, interleaved…`);
    const baseline = (k) => [
      'service',
      'create',
      '--quiet',
      '--name',
      `bench-d${k}`,
      '--replicas',
      '1',
      '--limit-cpu',
      '0.02',
      '--reserve-cpu',
      '0.02',
      '--limit-memory',
      '16m',
      '--reserve-memory',
      '16m',
      '--limit-pids',
      '512',
      '--init',
      '--cap-drop',
      'ALL',
      ...CAPS.flatMap((c) => ['--cap-add', c]),
      '--network',
      network,
      '--endpoint-mode',
      'dnsrr',
      '--restart-condition',
      'any',
      '--log-driver',
      'json-file',
      '--log-opt',
      'max-size=10m',
      '--mount',
      `type=volume,source=bench-d${k}-home,target=/home/d${k}`,
      '--label',
      'dev.berth.bench=swarm',
      '--container-label',
      'dev.berth.bench=swarm',
      '--env',
      `BERTH_USER=d${k}`,
      '--workdir',
      '/',
      IMAGE,
    ];
    // `docker service create` waits for its task and then 5 s more ("verify: waiting 5 seconds to verify that tasks are
    // stable"): the baseline is --detach, then `docker service ps` every 100 ms until the task runs (what berth waits for).
    const waitRunning =
      'docker -H "$0" "$@" >/dev/null && until docker -H "$0" service ps --filter desired-state=running --format "{{.CurrentState}}" "$NAME" | grep -q "^Running"; do sleep 0.1; done';
    const byHandCreate = async (k) => {
      const args = baseline(k);
      args.splice(2, 0, '--detach');
      const r = await manager.exec('timeout', ['120', 'bash', '-c', waitRunning, manager.host, ...args], { env: { NAME: `bench-d${k}` } });
      if (r.code !== 0) throw new Error(`docker service create bench-d${k}: ${r.stderr}`);
    };
    const created = { berth: [], docker: [], berthWall: 0, dockerWall: 0 };
    // The first VM makes the network and checks the nodes' daemon defaults: timed apart.
    const first = await timedIn('node', [bin, 'vm', 'create', logins[0]]);
    for (let i = 1; i < n; i += PARALLEL) {
      const batch = logins.slice(i, i + PARALLEL);
      const b = await inParallel(batch, PARALLEL, (login) => berth('vm', 'create', login));
      created.berth.push(...b.each);
      created.berthWall += b.wall;
      const d = await inParallel(
        batch.map((_, k) => i + k),
        PARALLEL,
        (k) => byHandCreate(k),
      );
      created.docker.push(...d.each);
      created.dockerWall += d.wall;
      if ((i - 1) % (PARALLEL * 5) === 0) log(`${i + batch.length} of ${n}…`);
    }
    // The baseline's services go before the list is timed: the cluster then holds berth's N VMs only.
    const ourServices = (await docker(manager.host, 'service', 'ls', '-q', '--filter', 'label=dev.berth.bench=swarm'))
      .split('\n')
      .filter(Boolean);
    await docker(manager.host, 'service', 'rm', ...ourServices);
    const end = Date.now() + 120_000;
    for (;;) {
      const left = await Promise.all(
        nodes.map((node) => docker(node.host, 'ps', '-aq', '--filter', 'label=dev.berth.bench=swarm').then((o) => o.trim())),
      );
      if (left.every((l) => !l)) break;
      if (Date.now() > end) throw new Error('the baseline containers did not go within 120 s');
      await new Promise((r) => setTimeout(r, 500));
    }

    // --- vm list with N VMs ---
    const listed = JSON.parse(await berth('vm', 'list', '--all', '--json'));
    const running = listed.filter((v) => v.state === 'running').length;
    const byHand = [
      `docker -H ${manager.host} service ls >/dev/null`,
      ...nodes.map((node) => `docker -H ${node.host} ps -a >/dev/null`),
    ].join(' && ');
    const list = { berth: [], docker: [] };
    await timedIn('node', [bin, 'vm', 'list', '--all']);
    await timedIn('bash', ['-c', byHand]);
    for (let i = 0; i < LIST_RUNS; i++) {
      list.berth.push(await timedIn('node', [bin, 'vm', 'list', '--all']));
      list.docker.push(await timedIn('bash', ['-c', byHand]));
    }

    // --- placement and memory ---
    const nodeViews = JSON.parse(await berth('node', 'list', '--json'));
    const perNode = ids.map((id, i) => {
      const view = nodeViews.find((v) => v.id === id);
      return `| node ${i + 1}${i === 0 ? ' (manager)' : ''} | ${listed.filter((v) => v.node === id).length} | ${view?.reserved.memory ?? '?'} | ${view?.reserved.cpus.toFixed(2) ?? '?'} |`;
    });
    const nodesRssAfter = await cluster.memoryBytes();
    const memHostAfter = memAvailableMb();
    const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
    const perVm = (wall, count) => ms(wall / count);
    return [
      `N = ${n} VMs (${n} users, one VM each; plan 0.02 CPU, 16m RAM), minimal image, ${PARALLEL} creates at a time; ${running} of ${listed.length} running at the end. The cluster: three dockerd 20.10 engines in network namespaces of their own on this one machine (${cluster.bringUpMs} ms to bring up), so every node shares the same two cores.`,
      '',
      '| operation | berth | plain Swarm | ratio | baseline command |',
      '|---|---|---|---|---|',
      `| create ${n - 1} VMs, ${PARALLEL} at a time (wall, summed over rounds) | ${ms(created.berthWall)} | ${ms(created.dockerWall)} | ${ratio(created.berthWall, created.dockerWall)} | \`docker service create --detach\` of the same spec (limits = reservations, pids, init, caps, network, dnsrr, volume mount, labels), then \`docker service ps\` every 100 ms until its task runs |`,
      `| one create (per VM, wall / count) | ${perVm(created.berthWall, created.berth.length)} | ${perVm(created.dockerWall, created.docker.length)} | ${ratio(created.berthWall, created.dockerWall)} | |`,
      `| one create, median (p95) of each process | ${ms(median(created.berth))} (${ms(percentile(created.berth, 95))}) | ${ms(median(created.docker))} (${ms(percentile(created.docker, 95))}) | ${ratio(median(created.berth), median(created.docker))} | |`,
      `| \`vm list --all\` with ${n} VMs, median of ${LIST_RUNS} | ${ms(median(list.berth))} | ${ms(median(list.docker))} | ${ratio(median(list.berth), median(list.docker))} | \`docker service ls\` on the manager, then \`docker ps -a\` on each of the 3 nodes |`,
      '',
      `The first VM (berth makes the VM network on each node, checks each node's daemon defaults with a throw-away container): ${ms(first)}, not in the rows above. berth's create does what the baseline does not: it pins the service to the node Swarm chose, then inspects the VM's container on that node and reads its PID 1's status (the hardening check). Plain \`docker service create\` without \`--detach\` waits 5 s more once its task runs ("verify: waiting 5 seconds to verify that tasks are stable"), so it is slower than berth per VM; the baseline here waits only for the task to run, as berth does.`,
      '',
      '| node | VMs | reserved memory | reserved CPUs |',
      '|---|---|---|---|',
      ...perNode,
      '',
      `Memory: the three nodes' dockerd + containerd RSS ${mib(nodesRssBefore)} with no VM, ${mib(nodesRssAfter)} with ${n} (${mib((nodesRssAfter - nodesRssBefore) / n)} per VM); the host's MemAvailable fell by ${Math.round(memHostBefore - memHostAfter)} MB from before the cluster started (engines, shims, the VMs' processes).`,
    ].join('\n');
  } finally {
    await cleanup();
  }
}
