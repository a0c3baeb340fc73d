import { execFile } from 'node:child_process';

/** How a host tool failed: the errno code (ENOENT…), what it printed, and whether its deadline ended it. */
export interface ToolFailure extends Error {
  code?: string;
  stderr: string;
  timedOut: boolean;
  shortMessage: string;
}

/**
 * Runs a host tool (iptables, losetup, mkfs…) with a deadline: its stdout (final newline
 * stripped), or a ToolFailure. node's execFile, not execa: execa's ~110 modules would cost every
 * command that may touch the firewall or a home's disk (vm create, vm start, vm list…) tens of
 * milliseconds to load.
 */
export function runTool(command: string, args: string[], options: { timeoutMs: number; input?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout.replace(/\r?\n$/, ''));
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        const failure: ToolFailure = Object.assign(new Error(e.message), {
          code: typeof e.code === 'string' ? e.code : undefined,
          stderr,
          timedOut: Boolean(e.killed && e.signal === 'SIGKILL'),
          shortMessage: `${command} ${args.join(' ')} failed${typeof e.code === 'number' ? ` with exit code ${e.code}` : ''}`,
        });
        reject(failure);
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}
