import { BerthError } from '../../src/errors.js';
import {
  type ExitSignal,
  SESSION_ENV,
  SESSION_SIGNALS,
  type SessionSignal,
  shellCommand,
  wrapSessionCommand,
} from '../../src/services/vm/vm-exec.js';
import type { SessionKind } from '../sessions.js';

/**
 * What a gateway session (shell, exec, sftp) runs and reports, decided from facts alone: the program
 * and its environment, the signals a client may send, what the client and the audit are told at the end.
 * `exec-session.ts` acts on these.
 */

// sftp-server's place differs between distributions; the first one found runs.
export const SFTP_SERVER = [
  'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/ssh/sftp-server; do',
  '  [ -x "$p" ] && exec "$p"',
  'done',
  'echo "berth: this VM has no sftp-server" >&2',
  'exit 127',
].join('\n');

/**
 * The command a session's exec runs; `wrapped` when it runs under the VM's helper
 * (`helper`, see templates/vm-helper.py), which reports how it ended.
 */
export function sessionProgram(
  kind: SessionKind,
  command: string | undefined,
  helper: string | null,
  sessionId: string,
): { cmd: string[]; wrapped: boolean } {
  const program =
    kind === 'shell' ? shellCommand() : kind === 'subsystem' ? ['/bin/sh', '-c', SFTP_SERVER] : ['/bin/sh', '-c', command ?? ''];
  // Under the helper, a command a signal ends is reported as exit-signal, not as 128+n.
  const wrapped = helper !== null && kind !== 'subsystem';
  return { cmd: wrapped && helper ? wrapSessionCommand(helper, sessionId, program) : program, wrapped };
}

/**
 * The session's environment: the client's accepted variables, TERM from the pty (the pty's own
 * terminal type, else the client's TERM, else xterm; none without a pty), the session tag, then
 * the forwarding's variables (SSH_AUTH_SOCK, DISPLAY).
 */
export function sessionEnv(
  clientEnv: readonly string[],
  pty: { term: string } | null,
  sessionId: string,
  forwardEnv: readonly string[],
): string[] {
  // The client's variables first, berth's own last (Docker keeps the last of a name).
  const env = clientEnv.filter((e) => !e.startsWith('TERM='));
  if (pty) env.push(`TERM=${pty.term || clientEnv.find((e) => e.startsWith('TERM='))?.slice(5) || 'xterm'}`);
  env.push(`${SESSION_ENV}=${sessionId}`);
  env.push(...forwardEnv);
  return env;
}

/** Line endings of what berth writes to the session's stderr: a pty wants CRLF. */
export const sessionEol = (pty: unknown): string => (pty ? '\r\n' : '\n');

/** A client's `signal` request (`INT` or `SIGINT`): the signal, or null for one a session may not be sent. */
export function sessionSignal(name: string): SessionSignal | null {
  const bare = name.replace(/^SIG/, '') as SessionSignal;
  return SESSION_SIGNALS.includes(bare) ? bare : null;
}

/** A terminal size worth sending to the engine: none of 0 columns or rows. */
export const usableSize = (size: { cols: number; rows: number } | null): size is { cols: number; rows: number } =>
  size !== null && size.cols > 0 && size.rows > 0;

/** What a session that could not start tells its client, how it ends, and whether the operator must look (not a BerthError). */
export function startFailure(err: unknown, eol: string): { line: string; outcome: string; unexpected: boolean } {
  if (err instanceof BerthError)
    return { line: `berth: ${err.message}${eol}${err.hint}`, outcome: `refused:${err.code}`, unexpected: false };
  return {
    line: 'berth: the session could not be started; the operator can see why in the daemon log.',
    outcome: 'error',
    unexpected: true,
  };
}

/**
 * How a session whose program's output ended is ended, from its exit code (null: none came) and whether
 * an engine wait of it passed its deadline. `timeout` ends it without the helper's report.
 */
export function exitOutcome(exitCode: number | null, timedOut: boolean): 'timeout' | 'ok' | 'error' {
  if (timedOut) return 'timeout';
  return exitCode === null ? 'error' : 'ok';
}

/** What the client reads when the exit code did not come in time. */
export const exitTimeoutNote = (deadlineMs: number): string =>
  `berth: the command's exit status did not come within ${Math.ceil(deadlineMs / 1000)} s; the session is ended.`;

/** The line a killed session's client reads (the reason given), null for any other end. */
export const killedNote = (outcome: string, reason: string | undefined): string | null =>
  outcome === 'killed' && reason ? `berth: ${reason}` : null;

/** Whether an ending session's program (when one started) is hung up: it did not end by itself. */
export const hangsUp = (outcome: string): boolean => outcome !== 'ok';

/** What the client is sent at the end: exit-signal, else exit-status, else nothing (no exit code known). */
export type ExitReport = { signal: string; coreDumped: boolean } | { code: number } | null;

export function exitReport(exitCode: number | null, exitSignal: ExitSignal | null): ExitReport {
  if (exitSignal) return { signal: exitSignal.name, coreDumped: exitSignal.coreDumped };
  return exitCode === null ? null : { code: exitCode };
}

/** The audit's outcome: `timeout` when any engine wait of the session passed its deadline, else the end's own. */
export const auditOutcome = (outcome: string, timedOut: boolean): string => (timedOut ? 'timeout' : outcome);
