// Start-up cost of the CLI against a bare `node -e 0`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, ms, timeProcesses } from './measure.js';

export const title = 'CLI start-up';

/**
 * The floor of any oclif CLI: one command that does nothing, with berth's oclif and launcher
 * (compile cache on), so that what berth adds on top can be told apart. Its package.json names
 * berth's plugins but has no dependencies, and oclif loads only the core plugins it finds among
 * a package's dependencies: it loads none (as berth does not, for its own commands).
 */
function bareOclif(dir, root) {
  mkdirSync(join(dir, 'commands'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const oclif = { bin: 'bare', commands: './commands', plugins: ['@oclif/plugin-help', '@oclif/plugin-autocomplete'] };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bare', version: '1.0.0', type: 'module', oclif }));
  writeFileSync(
    join(dir, 'commands', 'noop.js'),
    "import { Command } from '@oclif/core';\nexport default class Noop extends Command { static enableJsonFlag = true; async run() { return []; } }\n",
  );
  writeFileSync(
    join(dir, 'run.js'),
    "import module from 'node:module';\nmodule.enableCompileCache?.();\nconst { execute } = await import('@oclif/core');\nawait execute({ dir: import.meta.url });\n",
  );
  // A manifest, as berth has, so that start-up does not look for commands on disk.
  const manifest = `const { Plugin } = await import('@oclif/core'); const { writeFileSync } = await import('node:fs');
const p = new Plugin({ root: ${JSON.stringify(dir)}, type: 'core', isRoot: true, ignoreManifest: true });
await p.load(); writeFileSync(${JSON.stringify(join(dir, 'oclif.manifest.json'))}, JSON.stringify(p.manifest));`;
  spawnSync('node', ['--input-type=module', '-e', manifest], { cwd: dir, stdio: 'ignore' });
  return join(dir, 'run.js');
}

export async function run({ bin, runs, root }) {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const env = { BERTH_HOME: home };
  try {
    spawnSync('node', [bin, 'init'], { env: { ...process.env, ...env } });
    const bare = bareOclif(join(home, 'bare'), root);
    const commands = [
      ['`node -e 0` (baseline)', 'node', ['-e', '0']],
      ['a bare oclif command (no-op, `--json`)', 'node', [bare, 'noop', '--json']],
      ['`berth --version`', 'node', [bin, '--version']],
      ['`berth plan list --json`', 'node', [bin, 'plan', 'list', '--json']],
    ];
    const times = timeProcesses(
      commands.map(([, cmd, args]) => [cmd, args]),
      { runs, env },
    );
    const baseline = median(times[0]);
    const floor = median(times[1]);
    const lines = ['| command | median wall time | × baseline | × bare oclif |', '|---|---|---|---|'];
    commands.forEach(([name], i) => {
      const value = median(times[i]);
      lines.push(`| ${name} | ${ms(value)} | ${(value / baseline).toFixed(2)}× | ${(value / floor).toFixed(2)}× |`);
    });
    lines.push(
      '',
      `Median of ${runs} interleaved runs each, after a warm-up. Target: \`berth plan list --json\` within 1.25× of the bare oclif command. The bare oclif command is the floor of any oclif CLI on this Node (loading @oclif/core, its config and one command; it loads no plugins, and berth loads none for its own commands either); berth's own share is the difference.`,
    );
    return lines.join('\n');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
