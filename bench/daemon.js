// The daemon at rest: RSS and CPU over 60 s with 20 running VMs (idle policy on, so the
// scheduler samples every VM each interval, as in production).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { benchHome } from './measure.js';

export const title = 'Daemon at rest with 20 running VMs';

const VMS = 20;
const SECONDS = Number(process.env.BENCH_DAEMON_SECONDS || 60);

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, after the state field
}

function rssMb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}

export async function run({ bin, root }) {
  const { berth, cleanup } = benchHome({ bin, root, prefix: 'd' });
  try {
    berth('config', 'set', 'idle-timeout', '1h');
    berth('plan', 'add', 'bench', '--cpu', '0.1', '--ram', '32m', '--max-vms', String(VMS));
    berth('user', 'allow', 'bench', '--plan', 'bench');
    for (let i = 0; i < VMS; i++) berth('vm', 'create', 'bench', '--name', `v${i}`);
    berth('daemon', 'start');
    const pid = JSON.parse(berth('daemon', 'status', '--json')).pid;
    await new Promise((r) => setTimeout(r, 5000)); // start-up settles
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    const startTicks = cpuTicks(pid);
    const startAt = Date.now();
    let maxRss = 0;
    const samples = [];
    while (Date.now() - startAt < SECONDS * 1000) {
      const rss = rssMb(pid);
      samples.push(rss);
      maxRss = Math.max(maxRss, rss);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const cpuPercent = ((cpuTicks(pid) - startTicks) / hz / ((Date.now() - startAt) / 1000)) * 100;
    const meanRss = samples.reduce((a, b) => a + b, 0) / samples.length;
    return [
      '| measure | value | target |',
      '|---|---|---|',
      `| RSS, mean over ${SECONDS} s | ${meanRss.toFixed(1)} MB | < 120 MB |`,
      `| RSS, max | ${maxRss.toFixed(1)} MB | < 120 MB |`,
      `| CPU, mean over ${SECONDS} s | ${cpuPercent.toFixed(2)} % of one core | < 1 % |`,
      '',
      `${VMS} running VMs (minimal image), daemon with events follower, scheduler and idle policy (idle-timeout 1h, checked every idle-check-interval (default 1 min): one inspect and one stats call per VM), read from /proc/PID.`,
    ].join('\n');
  } finally {
    cleanup();
  }
}
