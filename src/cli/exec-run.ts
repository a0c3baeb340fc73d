import { attachTerminal } from '../services/access/local-terminal.js';
import type { Berth } from '../services/core/context.js';
import { execInVm } from '../services/vm/vm-exec.js';

export interface ExecFlags {
  interactive: boolean;
  tty: boolean;
}

/**
 * `berth vm exec` without --json: the command's output on this terminal (or stdout and stderr
 * apart), stdin passed with `interactive`; resolves to the command's exit code. Shared by the
 * oclif command and the launcher's fast path, so both behave alike.
 */
export async function execOnTerminal(berth: Berth, vm: string, cmd: string[], flags: ExecFlags): Promise<number> {
  const tty = flags.tty && Boolean(process.stdout.isTTY);
  const handle = await execInVm(berth, vm, {
    cmd,
    tty,
    stdin: flags.interactive,
    env: tty ? [`TERM=${process.env.TERM ?? 'xterm'}`] : [],
  });
  const detach = tty ? attachTerminal(handle, flags.interactive) : undefined;
  if (!tty) {
    handle.demux(process.stdout, process.stderr);
    if (flags.interactive) process.stdin.pipe(handle.stream);
  }
  const code = await handle.exitCode();
  detach?.();
  return code;
}
