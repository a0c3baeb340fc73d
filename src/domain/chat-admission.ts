/**
 * Who may do what in the chat bots, whatever the front-end: strangers may only ask for access
 * (or link an account they already have), pending users may only wait, refused users get nothing;
 * admins and allowed users pass. Pure: the gate in the daemon reads the state and applies it.
 */

import type { UserStatus } from '../state/schema.js';

/** What a stranger (no user yet) may send. */
const STRANGER_COMMANDS: ReadonlySet<string> = new Set(['start', 'link']);
/** What a pending user may send besides waiting. */
const PENDING_COMMANDS: ReadonlySet<string> = new Set(['start', 'help', 'myid', 'link']);

export type ChatVerdict =
  /** Let through (still rate-limited). */
  | 'pass'
  /** A stranger: told how to ask for access. */
  | 'stranger'
  /** Rejected or revoked: told they have no access. */
  | 'refused'
  /** Pending, and this is not something they may do yet: told to wait. */
  | 'waiting';

/**
 * The verdict for a sender: `status` undefined for a stranger; `command` the command's name, or
 * null for a button press, a file or a plain message.
 */
export function chatVerdict(sender: { status: UserStatus | undefined; admin: boolean }, command: string | null): ChatVerdict {
  const { status, admin } = sender;
  if (admin || status === 'allowed') return 'pass';
  if (status === 'rejected' || status === 'revoked') return 'refused';
  if (status === undefined) return command !== null && STRANGER_COMMANDS.has(command) ? 'pass' : 'stranger';
  return command !== null && PENDING_COMMANDS.has(command) ? 'pass' : 'waiting';
}
