// The web terminal against what a user would otherwise run, in one run: the SSH gateway
// (`ssh -tt`) and, the floor, a `docker exec` with a tty straight on the engine. Keystroke echo
// (one key sent, its echo back) and the time to print 200 000 lines to the terminal. The web
// terminal is driven as its page drives it (the same frames over the same WebSocket), from Node.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import WebSocket from 'ws';
import { benchHome, freePort, median, ms, percentile } from './measure.js';

export const title = 'Web terminal against the SSH gateway and docker exec';

const KEYS = Number(process.env.BENCH_WEB_KEYS || 200);
const LINES = 200_000;
const OUTPUT_RUNS = Number(process.env.BENCH_WEB_OUTPUT_RUNS || 5);
const say = (text) => process.stderr.write(`bench web: ${text}\n`);

/**
 * A terminal as a byte pipe: `write(bytes)` and `waitFor(text)` (resolves once output since the
 * last mark holds `text`).
 */
function terminal(write, onData, close) {
  let seen = '';
  let waiter = null;
  onData((chunk) => {
    seen += chunk.toString('latin1');
    if (seen.length > 1 << 20) seen = seen.slice(-4096);
    if (waiter && seen.includes(waiter.text)) {
      const w = waiter;
      waiter = null;
      w.resolve();
    }
  });
  return {
    write,
    close,
    mark: () => {
      seen = '';
    },
    waitFor: (text, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        if (seen.includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} in ${timeoutMs} ms`)), timeoutMs);
        waiter = {
          text,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      }),
  };
}

async function webTerminal(publicUrl, link) {
  const ticket = link.url.slice(link.url.indexOf('#') + 1);
  const res = await fetch(`${publicUrl}/t`, {
    method: 'POST',
    headers: { origin: publicUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ ticket }),
  });
  if (res.status !== 200) throw new Error(`the link was refused: ${res.status}`);
  const cookie = String(res.headers.get('set-cookie')).split(';')[0];
  const ws = new WebSocket(`${publicUrl.replace(/^http/, 'ws')}${link.path}/ws?cols=120&rows=40`, {
    headers: { origin: publicUrl, cookie },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const frame = (type, bytes) => Buffer.concat([Buffer.from([type]), bytes]);
  return terminal(
    (bytes) => ws.send(frame(0, bytes)),
    (fn) =>
      ws.on('message', (data) => {
        if (data[0] === 0) fn(data.subarray(1));
      }),
    () => ws.close(),
  );
}

function sshTerminal(port, key) {
  const child = spawn(
    'ssh',
    [
      '-tt',
      '-p',
      String(port),
      '-i',
      key,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'LogLevel=ERROR',
      'bench@127.0.0.1',
    ],
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  return terminal(
    (bytes) => child.stdin.write(bytes),
    (fn) => child.stdout.on('data', fn),
    () => child.kill(),
  );
}

async function dockerTerminal(cid) {
  const exec = await new Docker().getContainer(cid).exec({
    Cmd: ['/bin/sh', '-l'],
    User: '1000:1000',
    Tty: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Env: ['TERM=xterm-256color'],
  });
  const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
  return terminal(
    (bytes) => stream.write(bytes),
    (fn) => stream.on('data', fn),
    () => stream.destroy(),
  );
}

/** One key at a time, its echo awaited: the round trips, in ms. */
async function echoTimes(t, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    t.mark();
    const start = performance.now();
    t.write(Buffer.from(key));
    await t.waitFor(key, 10_000);
    times.push(performance.now() - start);
    // A line of at most 26 keys, then it is cleared (Ctrl-U).
    if (i % 26 === 25) t.write(Buffer.from('\x15'));
  }
  t.write(Buffer.from('\x15'));
  return times;
}

async function outputTime(t) {
  t.mark();
  const start = performance.now();
  t.write(Buffer.from(`seq 1 ${LINES}; echo END-$((40+2))\r`));
  await t.waitFor('END-42', 120_000);
  return performance.now() - start;
}

export async function run({ bin, root }) {
  const { dir, berth, cleanup } = benchHome({ bin, root, prefix: 'w' });
  const opened = [];
  try {
    const webPort = await freePort();
    const sshPort = await freePort();
    const publicUrl = `http://127.0.0.1:${webPort}`;
    berth('config', 'set', 'web.listen', `127.0.0.1:${webPort}`);
    berth('config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`);
    berth('config', 'set', 'disk', '0');
    berth('user', 'allow', 'bench');
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    berth('user', 'key', 'add', 'bench', '--file', `${key}.pub`);
    berth('vm', 'create', 'bench');
    const shortId = JSON.parse(berth('vm', 'show', 'bench', '--json')).containerId;
    const cid = execFileSync('docker', ['inspect', '-f', '{{.Id}}', shortId], { encoding: 'utf8' }).trim();
    berth('daemon', 'start');
    const link = JSON.parse(berth('vm', 'web-terminal', 'bench', '--json'));

    const ways = [
      ['berth web terminal (WebSocket)', () => webTerminal(publicUrl, link)],
      ['berth SSH gateway (`ssh -tt`)', async () => sshTerminal(sshPort, key)],
      ['`docker exec -it` on the engine (floor)', () => dockerTerminal(cid)],
    ];
    const results = [];
    for (const [name, make] of ways) {
      say(`opening: ${name}`);
      const t = await make();
      opened.push(t);
      t.write(Buffer.from('echo READY-$((6*7))\r'));
      await t.waitFor('READY-42', 30_000);
      await echoTimes(t, 20); // warm-up
      results.push({ name, t, echo: [], outputs: [] });
    }
    // Interleaved, so that a noisy moment on the machine falls on all three alike.
    const rounds = 10;
    for (let round = 0; round < rounds; round++) {
      for (const r of results) r.echo.push(...(await echoTimes(r.t, Math.ceil(KEYS / rounds))));
    }
    for (let i = 0; i < OUTPUT_RUNS; i++) for (const r of results) r.outputs.push(await outputTime(r.t));
    for (const r of results) r.output = median(r.outputs);
    const floor = results[results.length - 1];
    const rows = results.map(
      (r) =>
        `| ${r.name} | ${ms(median(r.echo))} | ${ms(percentile(r.echo, 95))} | ${(median(r.echo) / median(floor.echo)).toFixed(2)}× | ${ms(r.output)} | ${(r.output / floor.output).toFixed(2)}× |`,
    );
    return [
      '| terminal | key echo, median | key echo, p95 | × floor | `seq 1 200000` to the screen | × floor |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `${KEYS} keys one at a time (each echo awaited), after 20 for warm-up, in 10 interleaved rounds; output: median of ${OUTPUT_RUNS} interleaved runs, until the line after it came. The minimal image's busybox sh, 120×40. The web terminal also keeps the screen server-side (@xterm/headless) for reattaching; all three run as the VM user.`,
    ].join('\n');
  } finally {
    for (const t of opened) t.close();
    cleanup();
  }
}
