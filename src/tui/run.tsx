import { render } from 'ink';
import { attachTerminal } from '../cli/terminal.js';
import type { Berth } from '../services/context.js';
import { execInVm, shellCommand } from '../services/vm-exec.js';
import { App, type AppExit, type UiState } from './app.js';
import { berthDataSource } from './data-source.js';

const ALT_SCREEN_ON = '\u001b[?1049h\u001b[H';
const ALT_SCREEN_OFF = '\u001b[?1049l';

/**
 * Runs the dashboard full-screen (the terminal's alternate screen) until the operator
 * quits. A shell asked for from the app is run with the app unmounted and the normal
 * screen back; the app then returns where it was.
 */
export async function runTui(ctx: Berth, options: { colour: boolean }): Promise<void> {
  const source = berthDataSource(ctx);
  const out = process.stdout;
  let ui: UiState | undefined;
  const restore = () => out.write(`${ALT_SCREEN_OFF}\u001b[?25h`);
  process.once('exit', restore);
  try {
    for (;;) {
      out.write(ALT_SCREEN_ON);
      const app = render(<App source={source} colour={options.colour} initial={ui} />, { exitOnCtrlC: true, patchConsole: true });
      const result = (await app.waitUntilExit()) as AppExit;
      app.cleanup();
      out.write(ALT_SCREEN_OFF);
      if (!result?.shell) return;
      ui = result.ui;
      await shell(ctx, result.shell);
    }
  } finally {
    process.off('exit', restore);
    restore();
  }
}

async function shell(ctx: Berth, ref: string): Promise<void> {
  out(`Shell in ${ref}; exit it to come back to berth tui.\n`);
  try {
    const handle = await execInVm(ctx, ref, {
      cmd: shellCommand(),
      tty: true,
      stdin: true,
      env: [`TERM=${process.env.TERM ?? 'xterm'}`],
    });
    const detach = attachTerminal(handle, true);
    await handle.exitCode();
    detach();
  } catch (err) {
    out(`Could not open a shell in ${ref}: ${(err as Error).message}\nBack to berth tui in 2 s…\n`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function out(text: string): void {
  process.stdout.write(text);
}
