import { render } from 'ink';
import { onExit } from 'signal-exit';
import { attachTerminal } from '../services/access/local-terminal.js';
import type { Berth } from '../services/core/context.js';
import { execInVm, shellCommand } from '../services/vm/vm-exec.js';
import { App, type AppExit, type UiState } from './app.js';
import { berthDataSource, type DataSource, type Snapshot } from './data-source.js';

const ALT_SCREEN_ON = '\u001b[?1049h\u001b[H';
const ALT_SCREEN_OFF = '\u001b[?1049l';

/**
 * Runs the dashboard full-screen (the terminal's alternate screen) until the operator
 * quits. A shell asked for from the app is run with the app unmounted and the normal
 * screen back; the app then returns where it was.
 */
export async function runTui(
  ctx: Berth,
  options: { colour: boolean; source?: DataSource; first?: Promise<Snapshot>; quick?: Promise<Snapshot> },
): Promise<void> {
  const source = options.source ?? berthDataSource(ctx);
  let first = options.first;
  let quick = options.quick;
  const out = process.stdout;
  let ui: UiState | undefined;
  const restore = () => out.write(`${ALT_SCREEN_OFF}\u001b[?25h`);
  // However the process ends (q, an error, SIGTERM, SIGHUP…), the terminal gets its normal screen and cursor back.
  const forget = onExit(() => {
    restore();
  });
  try {
    for (;;) {
      out.write(ALT_SCREEN_ON);
      const app = render(<App source={source} colour={options.colour} initial={ui} first={first} quick={quick} />, {
        exitOnCtrlC: true,
        patchConsole: true,
      });
      first = undefined;
      quick = undefined;
      const result = (await app.waitUntilExit()) as AppExit;
      app.cleanup();
      out.write(ALT_SCREEN_OFF);
      if (!result?.shell) return;
      ui = result.ui;
      await shell(ctx, result.shell);
    }
  } finally {
    forget();
    restore();
  }
}

async function shell(ctx: Berth, ref: string): Promise<void> {
  out(`Shell in ${ref}; exit it to come back to berth tui.\n`);
  let opened = false;
  try {
    const handle = await execInVm(ctx, ref, {
      cmd: shellCommand(),
      tty: true,
      stdin: true,
      env: [`TERM=${process.env.TERM ?? 'xterm'}`],
    });
    opened = true;
    // The VM can go while the shell is open (destroyed, the engine restarted): its stream then fails;
    // that ends the shell, it must not end berth tui, nor leave the terminal raw and piped.
    handle.stream.on('error', () => undefined);
    const detach = attachTerminal(handle, true);
    try {
      await handle.exitCode();
    } finally {
      detach();
    }
  } catch (err) {
    const what = opened ? `The shell in ${ref} ended` : `Could not open a shell in ${ref}`;
    out(`\r\n${what}: ${(err as Error).message}\r\nBack to berth tui in 2 s…\r\n`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function out(text: string): void {
  process.stdout.write(text);
}
