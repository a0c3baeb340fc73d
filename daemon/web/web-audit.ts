import type pino from 'pino';
import type { WebMetrics } from '../metrics.js';
import { type Session, sessionEndLine } from '../sessions.js';

/**
 * The web server's audit layer: every web terminal and web-app WebSocket ends with one line in the
 * daemon log (`"event":"web-session"`, the same fields as an SSH session's) and in the metrics.
 */
export function webAudit(
  deps: { log: pino.Logger; metrics: WebMetrics },
  session: Session,
  outcome: string,
  exitCode: number | null,
  startedAt: number,
): void {
  deps.metrics.sessions.inc({ kind: session.kind, outcome });
  deps.log.info(sessionEndLine('web-session', 'browser', session, outcome, exitCode, startedAt), 'web session ended');
}
