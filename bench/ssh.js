// The SSH gateway against `docker exec` directly and against OpenSSH's sshd on loopback with
// `ForceCommand docker exec -i …` (what an operator would set up otherwise), in one run:
// throughput of 200 MB of `dd` output and connect-to-exit latency of `true`.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchHome, median, ms } from './measure.js';

export const title = 'SSH gateway against docker exec and sshd';

const MB = 200;
const LATENCY_RUNS = Number(process.env.BENCH_SSH_RUNS || 20);
const THROUGHPUT_RUNS = Number(process.env.BENCH_SSH_THROUGHPUT_RUNS || 3);
const SSHD = '/usr/sbin/sshd';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const say = (text) => process.stderr.write(`bench ssh: ${text}\n`);

function timed(cmd, args) {
  const start = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 120_000 });
  const elapsed = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return elapsed;
}

export async function run({ bin, root }) {
  const { dir, berth, cleanup } = benchHome({ bin, root, prefix: 's' });
  let sshd = null;
  try {
    const port = await freePort();
    berth('config', 'set', 'ssh.listen', `127.0.0.1:${port}`);
    berth('user', 'allow', 'bench');
    const key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    berth('user', 'key', 'add', 'bench', '--file', `${key}.pub`);
    berth('vm', 'create', 'bench');
    const cid = execFileSync('docker', ['inspect', '-f', '{{.Id}}', 'berth-bench-main'], { encoding: 'utf8' }).trim();
    berth('daemon', 'start');

    const client = (p, login) => [
      '-p',
      String(p),
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
    ];
    const dd = `dd if=/dev/zero bs=1M count=${MB}`;
    const ways = [
      ['berth gateway (client default cipher)', 'ssh', [...client(port, 'bench')]],
      ['berth gateway (aes128-gcm)', 'ssh', ['-c', 'aes128-gcm@openssh.com', ...client(port, 'bench')]],
      ['docker exec', 'docker', ['exec', '-u', '1000:1000', cid]],
    ];

    // The operator's alternative: sshd on loopback forcing every session into docker exec.
    let sshdNote = `sshd baseline skipped: ${SSHD} is missing (scripts/provision.sh installs openssh-server).`;
    if (existsSync(SSHD) && process.getuid?.() === 0) {
      const sshdPort = await freePort();
      const sdir = join(dir, 'sshd');
      mkdirSync(sdir);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(sdir, 'host_key')]);
      const auth = join(sdir, 'authorized_keys');
      execFileSync('cp', [`${key}.pub`, auth]);
      chmodSync(auth, 0o600);
      mkdirSync('/run/sshd', { recursive: true });
      const config = join(sdir, 'sshd_config');
      writeFileSync(
        config,
        [
          `Port ${sshdPort}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${join(sdir, 'host_key')}`,
          `AuthorizedKeysFile ${auth}`,
          `PidFile ${join(sdir, 'sshd.pid')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          `ForceCommand docker exec -i -u 1000:1000 ${cid} sh -c "$SSH_ORIGINAL_COMMAND"`,
          '',
        ].join('\n'),
      );
      sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: 'ignore' });
      for (let i = 0; i < 50; i++) {
        if (spawnSync('ssh', [...client(sshdPort, 'root'), 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      ways.push(['OpenSSH sshd + ForceCommand docker exec', 'ssh', client(sshdPort, 'root')]);
      sshdNote = '';
    }

    const command = (way, cmd) => (way[1] === 'docker' ? [...way[2], 'sh', '-c', cmd] : [...way[2], cmd]);
    say(`warming up ${ways.map((w) => w[0]).join(', ')}`);
    for (const way of ways) timed(way[1], command(way, 'true')); // warm up
    say('latency');

    const latency = ways.map(() => []);
    for (let i = 0; i < LATENCY_RUNS; i++) {
      for (const [k, way] of ways.entries()) latency[k].push(timed(way[1], command(way, 'true')));
    }
    say('throughput');
    const throughput = ways.map(() => []);
    for (let i = 0; i < THROUGHPUT_RUNS; i++) {
      for (const [k, way] of ways.entries()) throughput[k].push((MB * 1.048576) / (timed(way[1], command(way, dd)) / 1000));
    }
    const docker = ways.findIndex((w) => w[0] === 'docker exec');
    const sshdIndex = ways.findIndex((w) => w[0].startsWith('OpenSSH'));
    const rows = ways.map((way, k) => {
      const mbs = median(throughput[k]);
      const lat = median(latency[k]);
      return `| ${way[0]} | ${mbs.toFixed(1)} MB/s | ${(mbs / median(throughput[docker])).toFixed(2)}× | ${ms(lat)} | ${sshdIndex >= 0 ? `${(lat / median(latency[sshdIndex])).toFixed(2)}×` : '-'} |`;
    });
    return [
      '| path | throughput (200 MB of dd) | × docker exec | latency of `true` (median) | × sshd setup |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      `Throughput: median of ${THROUGHPUT_RUNS} runs of \`${dd}\` read to /dev/null by the client (MB = 10^6 bytes); latency: median of ${LATENCY_RUNS} interleaved connect-to-exit runs of \`true\` (a new process and connection each, as a user would). Minimal (busybox) VM, loopback. Targets: throughput ≥ 0.6× docker exec, latency within 1.5× of the sshd setup.`,
      ...(sshdNote ? ['', sshdNote] : []),
    ].join('\n');
  } finally {
    sshd?.kill();
    cleanup();
  }
}
