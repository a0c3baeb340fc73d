import { callDaemon } from './daemon-control.js';
import { checkSessionId, ROUTES, type SshSessionView } from './daemon-routes.js';

const NEEDS = 'it runs the SSH gateway';

/** The gateway's open sessions, from the running daemon. */
export async function listSshSessions(home: string): Promise<SshSessionView[]> {
  return (await callDaemon(home, ROUTES.sshSessions, {}, { needs: NEEDS })).sessions;
}

/** Ends an open session: the client is disconnected and its processes in the VM end. */
export async function killSshSession(home: string, id: string): Promise<{ killed: string }> {
  return callDaemon(home, ROUTES.sshKill, { params: { id: checkSessionId(id) } }, { timeoutMs: 5000, needs: NEEDS });
}

/** Open sessions per VM ref, for dashboards; null when no daemon (or no gateway) can tell. */
export async function sshSessionCounts(home: string): Promise<Map<string, number> | null> {
  const sessions = await callDaemon(home, ROUTES.sshSessions, {}, { timeoutMs: 1000 }).catch(() => null);
  if (!sessions || !Array.isArray(sessions.sessions)) return null;
  const counts = new Map<string, number>();
  for (const s of sessions.sessions) if (s.kind !== 'agent') counts.set(s.vm, (counts.get(s.vm) ?? 0) + 1);
  return counts;
}

/**
 * Asks the daemon's gateway to close the connections whose access was withdrawn, now (it would on
 * its own when it sees the state change; this makes it happen before what the caller does next,
 * e.g. stopping the user's VMs). The number closed, or null when no daemon answers.
 */
export async function closeWithdrawnSessions(home: string): Promise<number | null> {
  const answer = await callDaemon(home, ROUTES.sshRevalidate, {}, { timeoutMs: 5000 }).catch(() => null);
  return answer?.closed ?? null;
}

/** Agent runs in progress per VM ref (the daemon lists them with the sessions); null when no daemon answers. */
export async function agentRunCounts(home: string): Promise<Map<string, number> | null> {
  return (await sessionCounts(home))?.agent ?? null;
}

/** SSH and web sessions, and agent runs, per VM ref, from one answer of the daemon; null when none answers. */
export async function sessionCounts(home: string): Promise<{ ssh: Map<string, number>; agent: Map<string, number> } | null> {
  const sessions = await callDaemon(home, ROUTES.sshSessions, {}, { timeoutMs: 1000 }).catch(() => null);
  if (!sessions || !Array.isArray(sessions.sessions)) return null;
  const ssh = new Map<string, number>();
  const agent = new Map<string, number>();
  for (const s of sessions.sessions) {
    const counts = s.kind === 'agent' ? agent : ssh;
    counts.set(s.vm, (counts.get(s.vm) ?? 0) + 1);
  }
  return { ssh, agent };
}
