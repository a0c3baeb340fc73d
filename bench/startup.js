// Start-up cost of the CLI against a bare `node -e 0`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, ms, timeProcesses } from './measure.js';

export const title = 'CLI start-up';

export async function run({ bin, runs }) {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const env = { BERTH_HOME: home };
  try {
    spawnSync('node', [bin, 'init'], { env: { ...process.env, ...env } });
    const commands = [
      ['`node -e 0` (baseline)', 'node', ['-e', '0']],
      ['`berth --version`', 'node', [bin, '--version']],
      ['`berth plan list --json`', 'node', [bin, 'plan', 'list', '--json']],
    ];
    const times = timeProcesses(
      commands.map(([, cmd, args]) => [cmd, args]),
      { runs, env },
    );
    const baseline = median(times[0]);
    const lines = ['| command | median wall time | × baseline |', '|---|---|---|'];
    commands.forEach(([name], i) => {
      const value = median(times[i]);
      lines.push(`| ${name} | ${ms(value)} | ${(value / baseline).toFixed(2)}× |`);
    });
    lines.push(
      '',
      `Median of ${runs} interleaved runs each, after a warm-up. Target: \`berth plan list --json\` within 3× of \`node -e 0\`.`,
    );
    return lines.join('\n');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
