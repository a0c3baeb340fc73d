/**
 * Who asks for an action, as two separate questions: which VMs it may reach, and whether it
 * may bypass maintenance. A login over SSH or the bot reaches only its own VMs, admins included;
 * only the operator on the host (CLI/TUI) and the bot's explicit admin commands reach any VM.
 */
export interface Actor {
  role: 'admin' | 'user';
  /** The berth login behind a bot or SSH request; none for the operator on the host. */
  login?: string;
  /** `own`: only VMs of `login`; `any`: every VM (the operator, admin commands). */
  reach: 'own' | 'any';
  /** Acts during maintenance (an admin's explicit "do it anyway", e.g. --force). */
  bypassMaintenance?: boolean;
  /** Who this is in the event log, when not plain "operator" / "admin LOGIN" (e.g. "admin bob (bot)"). */
  label?: string;
}

export const OPERATOR: Actor = { role: 'admin', reach: 'any' };

/** The operator, with --force: also during maintenance. */
export const operator = (force = false): Actor => (force ? { ...OPERATOR, bypassMaintenance: true } : OPERATOR);

/** A login acting on its own VMs (SSH, the bot's user commands); admins may act during maintenance. */
export function loginActor(login: string, role: 'admin' | 'user'): Actor {
  return role === 'admin' ? { role, login, reach: 'own', bypassMaintenance: true } : { role, login, reach: 'own' };
}

/** Whether `actor` may act on a VM owned by `owner`. */
export const mayReach = (actor: Actor, owner: string): boolean =>
  actor.reach === 'any' || (actor.login !== undefined && actor.login === owner);
