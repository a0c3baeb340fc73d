import { BerthError, invalidInput } from '../errors.js';
import { askDaemon } from './daemon-control.js';

export type SessionKind = 'shell' | 'exec' | 'subsystem' | 'forward' | 'remote-forward' | 'web-terminal' | 'web-app';

/** One open session, of the SSH gateway or the web server (GET /ssh/sessions; `berth sessions`). */
export interface SshSessionView {
  id: string;
  user: string;
  /** The VM ref, `alice/main`. */
  vm: string;
  /** The key the user logged in with; for a web session `web:` and a tag of its browser's login. */
  fingerprint: string;
  /** The client's address. */
  source: string;
  kind: SessionKind;
  /**
   * The command (exec), `sftp` (subsystem), `localhost:PORT` (forward), the VM's `127.0.0.1:PORT`
   * (remote-forward) or `port PORT` (web-app: a WebSocket to the VM's web app).
   */
  command?: string;
  startedAt: string;
  bytesIn: number;
  bytesOut: number;
}

const SESSION_ID = /^[0-9a-f]{12}$/;

function daemonDown(): BerthError {
  return new BerthError('DAEMON_NOT_RUNNING', 'The berth daemon is not running (it runs the SSH gateway).', 'Start it: berth daemon start');
}

/** The gateway's open sessions, from the running daemon. */
export async function listSshSessions(home: string): Promise<SshSessionView[]> {
  const answer = await askDaemon<{ sessions: SshSessionView[] }>(home, '/ssh/sessions').catch(() => {
    throw daemonDown();
  });
  return answer.sessions;
}

/** Ends an open session: the client is disconnected and its processes in the VM end. */
export async function killSshSession(home: string, id: string): Promise<{ killed: string }> {
  if (!SESSION_ID.test(id)) {
    throw invalidInput(
      'INVALID_SESSION_ID',
      `"${id.slice(0, 40)}" is not a session id.`,
      'Session ids are 12 hex digits; see them with: berth ssh sessions',
    );
  }
  return askDaemon<{ killed: string }>(home, `/ssh/sessions/${id}`, 5000, 'DELETE').catch((err: Error) => {
    if (err.message.includes('answered 404')) {
      throw new BerthError('SESSION_NOT_FOUND', `There is no open SSH session ${id}.`, 'See the open sessions with: berth ssh sessions');
    }
    throw daemonDown();
  });
}

/** Open sessions per VM ref, for dashboards; null when no daemon (or no gateway) can tell. */
export async function sshSessionCounts(home: string): Promise<Map<string, number> | null> {
  const sessions = await askDaemon<{ sessions?: SshSessionView[] }>(home, '/ssh/sessions', 1000).catch(() => null);
  if (!sessions || !Array.isArray(sessions.sessions)) return null;
  const counts = new Map<string, number>();
  for (const s of sessions.sessions) counts.set(s.vm, (counts.get(s.vm) ?? 0) + 1);
  return counts;
}

/**
 * Asks the daemon's gateway to close the connections whose access was withdrawn, now (it would on
 * its own when it sees the state change; this makes it happen before what the caller does next,
 * e.g. stopping the user's VMs). The number closed, or null when no daemon answers.
 */
export async function closeWithdrawnSessions(home: string): Promise<number | null> {
  const answer = await askDaemon<{ closed: number }>(home, '/ssh/revalidate', 5000, 'POST').catch(() => null);
  return answer?.closed ?? null;
}
