import { type Session, sessionEndLine } from '../sessions.js';
import type { ConnectionScope } from './connection-scope.js';

/**
 * The audit layer: every session kind (shell, exec, sftp, -L, -R; the web terminal next) ends with
 * one line here, in the daemon log and the metrics, and knows nothing of the others.
 */
/** Ends an audit line: one per session, in the daemon log and the metrics. */
export function audit(scope: ConnectionScope, session: Session, outcome: string, exitCode: number | null, startedAt: number): void {
  scope.metrics.sessions.inc({ kind: session.kind, outcome });
  scope.metrics.bytes.inc({ direction: 'in' }, session.bytesIn);
  scope.metrics.bytes.inc({ direction: 'out' }, session.bytesOut);
  scope.log.info(sessionEndLine('ssh-session', 'fingerprint', session, outcome, exitCode, startedAt), 'ssh session ended');
}
