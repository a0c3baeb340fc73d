import { BerthCommand } from '../src/cli/base-command.js';
import { BerthError } from '../src/errors.js';

export default class Tui extends BerthCommand {
  static override summary = 'Full-screen dashboard of VMs, users, plans, maintenance and events';
  static override description = 'Needs a terminal (stdin and stdout) that understands colours and cursor movement. Press ? for the keys.';
  static override enableJsonFlag = false;
  static override examples = ['<%= config.bin %> tui'];

  async run(): Promise<void> {
    await this.parse(Tui);
    const term = process.env.TERM ?? '';
    if (!process.stdout.isTTY || !process.stdin.isTTY) {
      throw new BerthError(
        'NOT_A_TERMINAL',
        `berth tui needs a terminal, and its ${process.stdout.isTTY ? 'input' : 'output'} is not one.`,
        'Run it in a terminal. In scripts use the commands with --json instead (berth vm list --json, berth user list --json…).',
      );
    }
    if (term === '' || term === 'dumb') {
      throw new BerthError(
        'TERMINAL_TOO_PLAIN',
        `berth tui needs a terminal with colours and cursor movement; TERM is ${term ? `"${term}"` : 'not set'}.`,
        'Run it in a terminal emulator (TERM=xterm-256color, screen, tmux…), or use the plain commands (berth vm list…).',
      );
    }
    // A terminal is there: ink must draw live even when CI is set in the environment.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    // React's production build (set before it loads): its development build costs several times the CPU per frame.
    process.env.NODE_ENV ??= 'production';
    (await import('../src/tui/fast-imports.js')).fasterInkImports();
    // The first snapshot is read while the screen's modules (ink, react) load: the first screen comes sooner.
    const { berthDataSource } = await import('../src/tui/data-source.js');
    const source = berthDataSource(this.berth);
    // The state file's part first (drawn at once), then the whole snapshot, which waits for the engine.
    const quick = source.quick?.();
    quick?.catch(() => undefined);
    const first = source.snapshot();
    first.catch(() => undefined);
    const { runTui } = await import('../src/tui/run.js');
    // NO_COLOR (https://no-color.org): the same screens without colour.
    await runTui(this.berth, { colour: !('NO_COLOR' in process.env && process.env.NO_COLOR !== ''), source, first, quick });
  }
}
