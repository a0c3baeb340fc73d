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

/**
 * One line in the daemon log per change made through the HTTP API (`"event":"api"`): the token's
 * user and id, the source address, the route, the app, how it ended (ok, or refused with the code)
 * and how long it took. The deploy itself is in the state's event log too (deployApp).
 */
export function apiAudit(
  log: pino.Logger,
  line: {
    user: string;
    tokenId: string;
    source: string;
    route: string;
    app: string;
    outcome: string;
    code?: string;
    ms: number;
    /** A deploy: the kind of its source. */
    from?: string;
  },
): void {
  log.info({ event: 'api', ...line }, 'api request');
}
