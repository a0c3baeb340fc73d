// A user's web app through berth against the same app reached straight at the VM's address (what
// a published port would give), in one run: requests one at a time (latency) and 16 at once
// (throughput), through the app's own origin (web.apps-domain) and through a path app
// (web.path-apps). The app is busybox httpd serving a small file in a VM of the minimal image.
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { benchHome, freePort, median, ms, percentile } from './measure.js';

export const title = "A VM's web app through berth's proxy against the VM's own address";

const SEQUENTIAL = Number(process.env.BENCH_APPS_REQUESTS || 1000);
const PARALLEL = 16;
const PARALLEL_TOTAL = Number(process.env.BENCH_APPS_PARALLEL_TOTAL || 4000);
const say = (text) => process.stderr.write(`bench apps: ${text}\n`);

/** One GET: resolves with its status and headers once the body has been read. */
function get({ host, port, path, headers = {}, agent, method = 'GET' }) {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, headers, agent, method }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Latencies of `n` requests one after another on one kept-alive connection. */
async function oneAtATime(target, n) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const { status } = await get({ ...target, agent });
    if (status !== 200) throw new Error(`${target.name}: ${status}`);
    times.push(performance.now() - t0);
  }
  agent.destroy();
  return times;
}

/** Requests a second with PARALLEL clients, each on its own kept-alive connection. */
async function throughput(target, total) {
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  let left = total;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (left-- > 0) {
        const { status } = await get({ ...target, agent });
        if (status !== 200) throw new Error(`${target.name}: ${status}`);
      }
    }),
  );
  agent.destroy();
  return total / ((performance.now() - t0) / 1000);
}

export async function run({ bin, root }) {
  const h = benchHome({ bin, root, prefix: 'ap' });
  const webPort = await freePort();
  const publicUrl = `http://127.0.0.1:${webPort}`;
  try {
    for (const [k, v] of [
      ['web.listen', `127.0.0.1:${webPort}`],
      ['web.public-url', publicUrl],
      ['web.apps-domain', 'localhost'],
      ['web.path-apps', 'on'],
      ['web.max-app-requests', '1000'],
      ['ssh.enabled', 'off'],
    ]) {
      h.berth('config', 'set', k, v);
    }
    h.berth('user', 'allow', 'bench');
    h.berth('vm', 'create', 'bench');
    for (let i = 0; ; i++) {
      const ready = spawnSync('node', [bin, 'vm', 'exec', 'bench', '--', 'test', '-f', '/run/berth-ready'], { env: h.env });
      if (ready.status === 0) break;
      if (i > 150) throw new Error('the VM did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
    h.berth(
      'vm',
      'exec',
      'bench',
      '--',
      'sh',
      '-c',
      'mkdir -p www && head -c 2048 /dev/zero | tr "\\0" x > www/index.html && busybox httpd -p 8000 -h www',
    );
    h.berth('daemon', 'start');
    const vm = JSON.parse(h.berth('vm', 'show', 'bench', '--json'));
    const inspect = spawnSync('docker', ['inspect', vm.containerId ?? '', '--format', '{{json .NetworkSettings.Networks}}'], {
      encoding: 'utf8',
    });
    const networks = JSON.parse(inspect.stdout || '{}');
    const address = networks[h.network]?.IPAddress;
    if (!address) throw new Error(`no address of the VM on ${h.network}: ${inspect.stderr}`);

    // berth's cookie, from a one-time link; then the app host's cookie, through the exchange.
    const link = JSON.parse(h.berth('vm', 'web-terminal', 'bench', '--json'));
    const ticket = link.url.slice(link.url.indexOf('#') + 1);
    const landed = await fetch(`${publicUrl}/t`, {
      method: 'POST',
      headers: { origin: publicUrl, 'content-type': 'application/json' },
      body: JSON.stringify({ ticket }),
    });
    const cookie = String(landed.headers.get('set-cookie')).split(';')[0];
    const entry = await fetch(`${publicUrl}/apps/bench/main/8000`, {
      method: 'POST',
      headers: { origin: publicUrl, cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ to: '/' }),
    });
    const enter = new URL((await entry.json()).location);
    const spent = await get({
      host: '127.0.0.1',
      port: webPort,
      path: `${enter.pathname}${enter.search}`,
      method: 'POST',
      headers: { host: enter.host, origin: publicUrl },
    });
    const appCookie = String(spent.headers['set-cookie']?.[0] ?? '').split(';')[0];
    if (!appCookie) throw new Error(`the exchange gave no app cookie (${spent.status})`);

    const targets = [
      { name: "the VM's own address (floor)", host: address, port: 8000, path: '/index.html' },
      {
        name: 'berth, the app’s own origin',
        host: '127.0.0.1',
        port: webPort,
        path: '/index.html',
        headers: { host: enter.host, cookie: appCookie },
      },
      { name: 'berth, a path app', host: '127.0.0.1', port: webPort, path: '/app/bench/main/8000/index.html', headers: { cookie } },
    ];
    for (const t of targets) await oneAtATime(t, 50); // warm-up
    // Interleaved rounds, so that a change of load on the machine falls on all three alike.
    const latency = targets.map(() => []);
    const rate = targets.map(() => []);
    for (let round = 0; round < 5; round++) {
      for (const [i, t] of targets.entries()) {
        say(`round ${round + 1}: ${t.name}`);
        latency[i].push(...(await oneAtATime(t, Math.ceil(SEQUENTIAL / 5))));
        rate[i].push(await throughput(t, Math.ceil(PARALLEL_TOTAL / 5)));
      }
    }
    const floor = { p50: median(latency[0]), rate: median(rate[0]) };
    const rows = targets.map((t, i) => {
      const p50 = median(latency[i]);
      const r = median(rate[i]);
      return `| ${t.name} | ${ms(p50)} | ${ms(percentile(latency[i], 99))} | ${(p50 / floor.p50).toFixed(2)}× | ${Math.round(r)} | ${(r / floor.rate).toFixed(2)}× |`;
    });
    return [
      '| path | one at a time: p50 | p99 | p50 vs floor | 16 at once: requests/s | vs floor |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `${SEQUENTIAL} GETs of a 2 KiB file one at a time on one kept-alive connection, and ${PARALLEL_TOTAL} by 16 clients at once, in 5 interleaved rounds after a warm-up; busybox httpd in a VM of the minimal image. Through berth each request is checked (cookie, owner, the VM's address from the engine) and has its own connection to the VM; the app's answer is checked before it is passed on.`,
    ].join('\n');
  } finally {
    h.cleanup();
  }
}
