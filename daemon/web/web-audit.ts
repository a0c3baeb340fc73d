import type pino from 'pino';
import type { WebMetrics } from '../metrics.js';
import type { Session } from '../sessions.js';

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
  deps.log.info(
    {
      event: 'web-session',
      id: session.id,
      user: session.user,
      browser: session.fingerprint,
      source: session.source,
      vm: session.vm,
      kind: session.kind,
      command: session.command,
      startedAt: session.startedAt,
      durationMs: Date.now() - startedAt,
      exitCode,
      bytesIn: session.bytesIn,
      bytesOut: session.bytesOut,
      outcome,
    },
    'web session ended',
  );
}
