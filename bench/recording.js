// A recorded SSH session against the same session unrecorded, in one run: `seq 1 2000000`
// (about 14 MB of output) in `ssh -tt` through the gateway, the two taking turns.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchHome, median, ms } from './measure.js';

export const title = 'A recorded SSH session against the same unrecorded';

const RUNS = Number(process.env.BENCH_RECORDING_RUNS || 7);
const COMMAND = 'seq 1 2000000';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function metrics(home) {
  return new Promise((resolve, reject) => {
    request({ socketPath: join(home, 'berth.sock'), path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

const counter = (text, name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0);

export async function run({ bin, root }) {
  const { dir, home, berth, cleanup } = benchHome({ bin, root, prefix: 'r' });
  try {
    const port = await freePort();
    berth('config', 'set', 'ssh.listen', `127.0.0.1:${port}`);
    berth('config', 'set', 'web.enabled', 'off');
    berth('plan', 'add', 'recorded', '--record', 'output');
    berth('plan', 'add', 'plain', '--record', 'off');
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    for (const [login, plan] of [
      ['rec', 'recorded'],
      ['plain', 'plain'],
    ]) {
      berth('user', 'allow', login, '--plan', plan);
      berth('user', 'key', 'add', login, '--file', `${key}.pub`);
      berth('vm', 'create', login);
    }
    berth('daemon', 'start');
    const ssh = (login) => [
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
      `${login}@127.0.0.1`,
      COMMAND,
    ];
    const timed = (login) => {
      const start = performance.now();
      const r = spawnSync('ssh', ssh(login), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`ssh ${login} exited ${r.status}: ${r.stderr}`);
      return performance.now() - start;
    };
    const instance = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')).instanceId;
    const cid = execFileSync(
      'docker',
      ['ps', '-q', '--filter', `label=dev.berth.instance=${instance}`, '--filter', 'label=dev.berth.user=plain'],
      { encoding: 'utf8' },
    ).trim();
    const direct = () => {
      const start = performance.now();
      const r = spawnSync('docker', ['exec', '-t', '-u', '1000:1000', cid, 'sh', '-c', COMMAND], {
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
        timeout: 300_000,
      });
      if (r.status !== 0) throw new Error(`docker exec exited ${r.status}: ${r.stderr}`);
      return performance.now() - start;
    };
    // The gateway listens a moment after `daemon start` returns.
    for (let i = 0; i < 100; i++) {
      const probe = ssh('plain').slice(0, -1);
      if (spawnSync('ssh', [...probe, 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    timed('rec');
    timed('plain');
    direct();
    const times = { rec: [], plain: [], direct: [] };
    for (let i = 0; i < RUNS; i++) {
      times.plain.push(timed('plain'));
      times.rec.push(timed('rec'));
      times.direct.push(direct());
    }
    // The last recording's close is counted once its session's audit line is written.
    await new Promise((r) => setTimeout(r, 1000));
    const m = await metrics(home);
    const files = readdirSync(join(home, 'recordings')).map((f) => statSync(join(home, 'recordings', f)).size);
    const rec = median(times.rec);
    const plain = median(times.plain);
    return [
      '| session | `ssh -tt … seq 1 2000000` (median) | × unrecorded |',
      '|---|---|---|',
      `| unrecorded (plan --record off) | ${ms(plain)} | 1.00× |`,
      `| recorded (plan --record output) | ${ms(rec)} | ${(rec / plain).toFixed(2)}× |`,
      `| \`docker exec -t\` in the same VM, no SSH (for scale) | ${ms(median(times.direct))} | ${(median(times.direct) / plain).toFixed(2)}× |`,
      '',
      `Median of ${RUNS} runs each, taking turns, after one warm-up each; the client's output to /dev/null. ${files.length} recordings, median ${(median(files) / 1e6).toFixed(1)} MB each; ${counter(m, 'berth_recording_dropped_frames_total')} output frames dropped in all (the writer fell behind) and ${(counter(m, 'berth_recording_bytes_total') / 1e6).toFixed(1)} MB written. Target: within 1.2× of unrecorded.`,
    ].join('\n');
  } finally {
    cleanup();
  }
}
