// Hundreds of VMs on one host (issue 19): N VMs of N users on the minimal image, then
//   create throughput      `berth vm create` P at a time  vs  `docker run -d` (same limits) P at a time
//   vm list / vm stats     vs  `docker ps -a` / `docker stats --no-stream` of the same containers
//   TUI                    time to first screen and CPU at rest (with the dockerd CPU it causes), in tmux
//   maintenance on / off   vs  stopping / starting the same containers through the engine API,
//                              bulk.concurrency at a time (what berth asks of the engine, without berth)
//   daemon at rest         CPU and RSS with the idle policy on
// N: BENCH_SCALE_N or --scale-n=N (default 500, fewer when memory does not allow it: said in the output).
// Everything made (containers, volumes, firewall rules, loop devices, tmux sessions) is removed at
// the end, also on Ctrl-C or SIGTERM.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchHome, dockerRunArgs, median, ms } from './measure.js';

export const title = 'Hundreds of VMs on one host';

const IMAGE = 'berth-vm-minimal:latest';
/** What one idle minimal VM costs the host (its shim, tini, sh, sleep, the engine's bookkeeping), with room to spare. */
const PER_VM_MB = 30;
/** Processes creating VMs at once (an operator's script filling a class). */
const CREATE_PARALLEL = 4;
/** How many `docker run` baseline containers (interleaved with the first berth creates). */
const BASELINE_RUNS = 100;
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS || 2);
const REST_SECONDS = Number(process.env.BENCH_SCALE_REST_SECONDS || 30);
const DAEMON_SECONDS = Number(process.env.BENCH_SCALE_DAEMON_SECONDS || 120);
/** The daemon's start-up, before it is at rest. */
const SETTLE_SECONDS = 30;

const sleep = (msec) => new Promise((r) => setTimeout(r, msec));
const lines = (out) => out.split('\n').filter(Boolean);

function wantedN() {
  const flag = process.argv.find((a) => a.startsWith('--scale-n='));
  const n = Number(flag ? flag.split('=')[1] : process.env.BENCH_SCALE_N || 500);
  if (!Number.isInteger(n) || n < 2) throw new Error(`bench scale: N must be a whole number ≥ 2 (got ${n})`);
  return n;
}

function memAvailableMb() {
  const line = readFileSync('/proc/meminfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('MemAvailable:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}

const pidOf = (name) => Number(spawnSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' }).stdout.trim()) || null;

/** A process run to its end, asynchronously (so that several run at once): its wall time. */
function runAsync(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const elapsed = performance.now() - start;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
      else resolve({ elapsed, stdout: out });
    });
  });
}

/** `items` through `work`, `parallel` at a time: the wall time of all. */
async function inParallel(items, parallel, work) {
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
  return performance.now() - start;
}

/** CPU of processes over `seconds`, in % of one core, sampled from /proc. */
async function cpuOver(pids, seconds) {
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const before = pids.map((p) => (p ? cpuTicks(p) : 0));
  const start = Date.now();
  await sleep(seconds * 1000);
  const wall = (Date.now() - start) / 1000;
  return pids.map((p, i) => (p ? ((cpuTicks(p) - before[i]) / hz / wall) * 100 : null));
}

const tmux = (...args) => spawnSync('tmux', args, { encoding: 'utf8' });
const screen = (session) => tmux('capture-pane', '-p', '-t', session).stdout ?? '';

async function until(test, ms = 60_000, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const value = test();
    if (value) return value;
    if (Date.now() > end) return null;
    await sleep(every);
  }
}

export async function run({ bin, root }) {
  const want = wantedN();
  const fits = Math.floor((memAvailableMb() * 0.7) / PER_VM_MB);
  const n = Math.min(want, fits);
  const memoryNote =
    n < want
      ? `N = ${n}, not ${want}: ${Math.round(memAvailableMb())} MB available holds about ${fits} idle VMs at ${PER_VM_MB} MB each with room to spare.`
      : '';
  const { home, env, berth, cleanup: cleanHome, network } = benchHome({ bin, root, prefix: 'sc' });
  const session = `berth-bench-scale-${process.pid}`;
  const baselinePrefix = `berth-bench-scale-${process.pid}-d`;
  let cleaned = false;
  const instanceOf = () => {
    try {
      return JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).instanceId;
    } catch {
      return 'unknown';
    }
  };
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    const instance = instanceOf();
    tmux('kill-session', '-t', session);
    const docker = (...args) => spawnSync('docker', args, { encoding: 'utf8', timeout: 300_000 }).stdout ?? '';
    // The baseline's containers carry this home's instance label (cleanHome removes them); their volumes go by name.
    const ids = lines(docker('ps', '-aq', '--filter', `name=${baselinePrefix}`));
    if (ids.length) docker('rm', '-f', ...ids);
    cleanHome();
    const vols = lines(docker('volume', 'ls', '-q', '--filter', `name=${baselinePrefix}`));
    if (vols.length) docker('volume', 'rm', '-f', ...vols);
    // An engine that stopped answering (it happens to a loaded dockerd) leaves them: say so, with how to remove them.
    const left = lines(docker('ps', '-aq', '--filter', `label=dev.berth.instance=${instance}`));
    if (left.length)
      console.error(
        `bench scale: ${left.length} container(s) are left; remove them with: docker rm -f $(docker ps -aq --filter label=dev.berth.instance=${instance})`,
      );
  };
  const onSignal = (signal) => {
    console.error(`bench scale: ${signal}, removing what it made…`);
    cleanup();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);
  const log = (text) => console.error(`bench scale: ${text}`);
  try {
    const instance = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).instanceId;
    const concurrency = Number(JSON.parse(berth('config', 'get', 'bulk.concurrency', '--json')).value);
    berth('plan', 'add', 'scale', '--cpu', '0.1', '--ram', '16m', '--disk', '0', '--rootfs', '0', '--max-vms', '1');
    // N users, one VM each (a class): added in one process through berth's own service.
    const { StateStore } = await import(join(root, 'dist', 'src', 'state', 'store.js'));
    const { allowUser } = await import(join(root, 'dist', 'src', 'services', 'users.js'));
    const store = new StateStore(home);
    const logins = Array.from({ length: n }, (_, i) => `s${String(i).padStart(3, '0')}`);
    for (const login of logins) await allowUser(store, login, { plan: 'scale' });
    const memBefore = memAvailableMb();
    const dockerPid = pidOf('dockerd');

    // --- create: berth and docker run interleaved in rounds of CREATE_PARALLEL, then the rest of berth's ---
    log(`creating ${n} VMs, ${CREATE_PARALLEL} at a time, with a docker run baseline of ${Math.min(BASELINE_RUNS, n)}…`);
    const created = { berth: 0, berthCount: 0, docker: 0, dockerCount: 0, rest: 0 };
    const baseline = Math.min(BASELINE_RUNS, n);
    const createVm = (login) => runAsync('node', [bin, 'vm', 'create', login], env);
    for (let i = 0; i < n; i += CREATE_PARALLEL) {
      const batch = logins.slice(i, i + CREATE_PARALLEL);
      const t = await inParallel(batch, CREATE_PARALLEL, createVm);
      if (created.dockerCount < baseline) {
        created.berth += t;
        created.berthCount += batch.length;
        const ds = batch.map((_, k) => created.dockerCount + k).filter((k) => k < baseline);
        created.docker += await inParallel(ds, CREATE_PARALLEL, (k) =>
          runAsync(
            'docker',
            dockerRunArgs({
              name: `${baselinePrefix}${k}`,
              hostname: `d${k}`,
              network,
              memory: '16m',
              cpus: '0.1',
              volume: `${baselinePrefix}${k}-home`,
              user: 'bench',
              labels: { 'dev.berth.managed': 'true', 'dev.berth.instance': instance, 'dev.berth.user': 'bench', 'dev.berth.vm': `d${k}` },
              image: IMAGE,
            }),
            {},
          ),
        );
        created.dockerCount += ds.length;
        if (created.dockerCount >= baseline) {
          // The baseline goes before the rest is measured: the engine then holds berth's VMs only.
          const ids = lines(spawnSync('docker', ['ps', '-aq', '--filter', `name=${baselinePrefix}`], { encoding: 'utf8' }).stdout);
          spawnSync('docker', ['rm', '-f', ...ids]);
          const vols = lines(
            spawnSync('docker', ['volume', 'ls', '-q', '--filter', `name=${baselinePrefix}`], { encoding: 'utf8' }).stdout,
          );
          if (vols.length) spawnSync('docker', ['volume', 'rm', '-f', ...vols]);
        }
      } else created.rest += t;
      if ((i / CREATE_PARALLEL) % 25 === 0) log(`  ${Math.min(n, i + CREATE_PARALLEL)}/${n}`);
    }
    const perVmMb = (memBefore - memAvailableMb()) / n;
    const vms = JSON.parse(berth('vm', 'list', '--json'));
    if (vms.length !== n || vms.some((v) => v.state !== 'running')) throw new Error(`expected ${n} running VMs, found ${vms.length}`);
    const ids = vms.map((v) => v.containerId);
    const rate = (count, msec) => count / (msec / 1000);

    // --- vm list and vm stats against the docker CLI's own list and stats of the same containers ---
    log('vm list / vm stats…');
    const timesOf = async (commands, runs) => {
      const out = commands.map(() => []);
      for (const [cmd, args] of commands) await runAsync(cmd, args, env);
      for (let r = 0; r < runs; r++) {
        for (const [k, [cmd, args]] of commands.entries()) out[k].push((await runAsync(cmd, args, env)).elapsed);
      }
      return out.map(median);
    };
    const [listBerth, listDocker] = await timesOf(
      [
        ['node', [bin, 'vm', 'list', '--json']],
        ['docker', ['ps', '-a', '--no-trunc', '--filter', `label=dev.berth.instance=${instance}`, '--format', '{{json .}}']],
      ],
      5,
    );
    const [statsBerth, statsDocker] = await timesOf(
      [
        ['node', [bin, 'vm', 'stats', '--json']],
        ['docker', ['stats', '--no-stream', '--format', '{{json .}}', ...ids]],
      ],
      3,
    );

    // --- the TUI in tmux: first screen, live numbers, CPU at rest ---
    log('berth tui in tmux…');
    const pidFile = join(home, 'tui.pid');
    const firstScreens = [];
    const numbersIn = [];
    for (let r = 0; r < 3; r++) {
      tmux('kill-session', '-t', session);
      const start = performance.now();
      tmux(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '160',
        '-y',
        '50',
        `sh -c 'echo $$ > ${pidFile}; exec env BERTH_HOME=${home} TERM=xterm-256color node ${bin} tui'`,
      );
      const shown = await until(() => (screen(session).includes(logins[0]) ? true : null));
      if (!shown) throw new Error(`the TUI never showed its first screen:\n${screen(session)}`);
      firstScreens.push(performance.now() - start);
      // The CPU column of the first row: a number once the live numbers are in.
      const numbers = await until(() => {
        const row = screen(session)
          .split('\n')
          .find((l) => l.includes(logins[0]));
        return row && /running\s+\d+\.\d/.test(row) ? row : null;
      });
      numbersIn.push(numbers ? performance.now() - start : Number.NaN);
    }
    await sleep(5000);
    const tuiPid = Number(readFileSync(pidFile, 'utf8').trim());
    const [tuiCpu, dockerdWithTui] = await cpuOver([tuiPid, dockerPid], REST_SECONDS);
    // A key while at rest: `j` moves the selection to the second row.
    const keysAt = performance.now();
    tmux('send-keys', '-t', session, 'j');
    const moved = await until(() => (screen(session).includes(`> ${logins[1]}`) ? true : null), 5000, 10);
    const keyMs = moved ? performance.now() - keysAt : Number.NaN;
    tmux('kill-session', '-t', session);
    const [dockerdAlone] = await cpuOver([dockerPid], REST_SECONDS);

    // --- maintenance on/off against the engine API with the same parallelism, in rounds ---
    log(`maintenance on/off, ${ROUNDS} round(s)…`);
    const { default: Docker } = await import('dockerode');
    const engine = new Docker();
    const api = async (action) =>
      inParallel(ids, concurrency, (id) =>
        action === 'stop'
          ? engine
              .getContainer(id)
              .stop({ t: 10 })
              .catch((e) => (e.statusCode === 304 ? undefined : Promise.reject(e)))
          : engine
              .getContainer(id)
              .start()
              .catch((e) => (e.statusCode === 304 ? undefined : Promise.reject(e))),
      );
    const m = { on: [], off: [], stop: [], start: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const on = await runAsync('node', [bin, 'maintenance', 'on', '--json'], env);
      if (JSON.parse(on.stdout).changed.length !== n) throw new Error('maintenance on did not stop every VM');
      m.on.push(on.elapsed);
      const off = await runAsync('node', [bin, 'maintenance', 'off', '--json'], env);
      if (JSON.parse(off.stdout).changed.length !== n) throw new Error('maintenance off did not start every VM');
      m.off.push(off.elapsed);
      m.stop.push(await api('stop'));
      m.start.push(await api('start'));
    }

    // --- the daemon at rest with the idle policy on ---
    log(`daemon at rest for ${DAEMON_SECONDS} s…`);
    berth('config', 'set', 'idle-timeout', '1h');
    berth('daemon', 'start');
    const daemonPid = JSON.parse(berth('daemon', 'status', '--json')).pid;
    // Start-up (loading its modules, restoring homes, the first policy pass) settles; V8 gives back
    // what it took meanwhile a little later. Its peak is told apart.
    const startup = [];
    for (let i = 0; i < SETTLE_SECONDS; i++) {
      startup.push(rssMb(daemonPid));
      await sleep(1000);
    }
    const samples = [];
    const sampler = setInterval(() => samples.push(rssMb(daemonPid)), 1000);
    const [daemonCpu, dockerdWithDaemon] = await cpuOver([daemonPid, dockerPid], DAEMON_SECONDS);
    clearInterval(sampler);
    berth('daemon', 'stop');
    const meanRss = samples.reduce((a, b) => a + b, 0) / samples.length;

    const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
    const pct = (v) => (v === null ? '?' : `${v.toFixed(2)} %`);
    const berthRate = rate(created.berthCount, created.berth);
    const dockerRate = rate(created.dockerCount, created.docker);
    const allRate = rate(n, created.berth + created.rest);
    return [
      `${n} running VMs (minimal image, 0.1 CPU and 16 MB each, no home quota), one per user; \`bulk.concurrency\` ${concurrency}. ${memoryNote}`,
      '',
      '| measure | berth | baseline | berth ÷ baseline (time) | baseline command | target |',
      '|---|---|---|---|---|---|',
      `| create throughput, first ${created.berthCount} (interleaved with the baseline) | ${berthRate.toFixed(2)} VMs/s | ${dockerRate.toFixed(2)} VMs/s | ${ratio(dockerRate, berthRate)} | \`docker run -d\` with the same limits, ${CREATE_PARALLEL} at a time | — |`,
      `| create throughput, all ${n} | ${allRate.toFixed(2)} VMs/s | — | — | — | — |`,
      `| \`vm list --json\` | ${ms(listBerth)} | ${ms(listDocker)} | ${ratio(listBerth, listDocker)} | \`docker ps -a --filter label=…\` | ≤ 1 s |`,
      `| \`vm stats --json\` | ${ms(statsBerth)} | ${ms(statsDocker)} | ${ratio(statsBerth, statsDocker)} | \`docker stats --no-stream\` of the ${n} containers | — |`,
      `| TUI: first screen (VMs table) | ${ms(median(firstScreens))} | — | — | — | ≤ 1 s |`,
      `| TUI: CPU numbers of the rows on screen in | ${ms(median(numbersIn))} | — | — | — | — |`,
      `| TUI at rest: a key (\`j\`) drawn in | ${ms(keyMs)} | — | — | — | — |`,
      `| TUI at rest on the VMs tab, CPU (TUI + dockerd's share) | ${pct(tuiCpu)} + ${pct(dockerdWithTui - dockerdAlone)} of a core | — | — | — | a small fraction |`,
      `| \`maintenance on\` (stop all) | ${ms(median(m.on))} | ${ms(median(m.stop))} | ${ratio(median(m.on), median(m.stop))} | engine API stop of the ${n}, ${concurrency} at a time | — |`,
      `| \`maintenance off\` (start all again) | ${ms(median(m.off))} | ${ms(median(m.start))} | ${ratio(median(m.off), median(m.start))} | engine API start of the ${n}, ${concurrency} at a time | ≤ 1.5× |`,
      `| daemon at rest, CPU over ${DAEMON_SECONDS} s (idle policy on) | ${pct(daemonCpu)} of a core (dockerd: ${pct(dockerdWithDaemon)}) | — | — | — | ≤ 2 % |`,
      `| daemon at rest, RSS mean / max | ${meanRss.toFixed(1)} / ${Math.max(...samples).toFixed(1)} MB | — | — | — | ≤ 150 MB |`,
      `| daemon start-up, RSS max over its first ${SETTLE_SECONDS} s | ${Math.max(...startup).toFixed(1)} MB | — | — | — | — |`,
      '',
      `Creates: whole \`berth vm create USER\` processes (CLI start-up included), ${CREATE_PARALLEL} at a time, in rounds alternating with \`docker run -d\` rounds until ${created.dockerCount} of each; the baseline containers are then removed and the remaining VMs created. Each VM costs the host about ${perVmMb.toFixed(1)} MB of memory. vm list: median of 5 runs each, vm stats of 3, interleaved. TUI: \`berth tui\` in a 160×50 tmux pane, from the launch until the table's first row shows (median of 3 launches), then until the first row's CPU % shows; CPU of the TUI process and of dockerd over ${REST_SECONDS} s at rest, dockerd's share being its CPU with the TUI open minus without (${pct(dockerdAlone)} alone). Maintenance: median of ${ROUNDS} round(s) of berth on, berth off, API stop, API start. Daemon: idle-timeout 1h, idle-check-interval 1m, events follower, scheduler, SSH gateway, no Telegram token; at rest = after its first ${SETTLE_SECONDS} s; RSS sampled every second from /proc. ${cpus().length} CPUs.`,
    ].join('\n');
  } finally {
    cleanup();
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(s, onSignal);
  }
}
