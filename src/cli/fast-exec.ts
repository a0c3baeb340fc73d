import { openBerth } from '../services/engine/open.js';
import { reportOf, writeReport } from './error-report.js';
import { type ExecFlags, execOnTerminal } from './exec-run.js';

const FLAG_LETTERS: Record<string, string> = {
  '-i': 'i',
  '--interactive': 'i',
  '-t': 't',
  '--tty': 't',
  '-it': 'it',
  '-ti': 'it',
};

/**
 * The command of `berth vm exec … -- CMD…`: every word after the first `--`, as typed (oclif's own
 * argv groups repeated words, `echo a b a` → `echo a a b`); null without `--`.
 */
export function commandWords(argv: readonly string[]): string[] | null {
  const dash = argv.indexOf('--');
  return dash < 0 ? null : argv.slice(dash + 1);
}

/**
 * The plain forms of `berth vm exec` (after `vm exec`): one VM, then -i/-t/--interactive/--tty
 * each at most once, then `--` and the command. Anything else (--json, --help, another flag, no
 * `--`, no command) is null: the oclif command handles it, with its own parsing and messages.
 * The command's words are exactly those after the first `--`, in their order (commandWords).
 */
export function plainExecArgs(argv: readonly string[]): { vm: string; cmd: string[]; flags: ExecFlags } | null {
  const dash = argv.indexOf('--');
  if (dash < 0 || dash === argv.length - 1) return null;
  let vm: string | undefined;
  const letters: string[] = [];
  for (const token of argv.slice(0, dash)) {
    if (token.startsWith('-')) {
      const flag = FLAG_LETTERS[token];
      if (flag === undefined) return null;
      letters.push(...flag);
      continue;
    }
    if (vm !== undefined || token === '') return null;
    vm = token;
  }
  if (vm === undefined || new Set(letters).size !== letters.length) return null;
  return { vm, cmd: commandWords(argv) ?? [], flags: { interactive: letters.includes('i'), tty: letters.includes('t') } };
}

/**
 * `berth vm exec` without oclif, for its plain forms: the same service call, output, error
 * messages and exit codes as the command (commands/vm/exec.ts), without loading oclif (about
 * half of a short exec's time). Returns false, having done nothing, for any other form.
 */
export async function fastExec(argv: readonly string[]): Promise<boolean> {
  const args = plainExecArgs(argv);
  if (!args) return false;
  // As oclif: a closed stdout (`| head`) is not an error, and a missing working directory is said.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  try {
    process.cwd();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') process.stderr.write('WARNING: current directory does not exist\n');
  }
  try {
    const code = await execOnTerminal(openBerth(undefined, undefined, { directExec: true }), args.vm, args.cmd, args.flags);
    if (code !== 0) process.exit(code);
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const report = reportOf(error);
    writeReport(report, error, false);
    process.exit(report.exit);
  }
  return true;
}
