import { askDaemon } from './daemon-control.js';

export interface SessionInfo {
  id: string;
  user: string;
  /** The VM ref (user/name). */
  vm: string;
}

/**
 * Open SSH sessions per VM ref, as the daemon's SSH gateway reports them; null when
 * nobody can tell (no daemon running, or a daemon without the gateway's route).
 */
export async function sshSessionCounts(home: string): Promise<Map<string, number> | null> {
  let answer: { sessions?: SessionInfo[] };
  try {
    answer = await askDaemon<{ sessions?: SessionInfo[] }>(home, '/ssh/sessions', 1000);
  } catch {
    return null;
  }
  if (!answer || !Array.isArray(answer.sessions)) return null;
  const counts = new Map<string, number>();
  for (const s of answer.sessions) if (typeof s.vm === 'string') counts.set(s.vm, (counts.get(s.vm) ?? 0) + 1);
  return counts;
}
