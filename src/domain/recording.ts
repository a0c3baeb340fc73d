import type { State, User } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';
import { formatDuration } from '../values/durations.js';
import type { RecordMode } from '../values/recording.js';

/**
 * Whether a person's sessions are recorded, and what they are told: their plan's `record` when it
 * has one, else config `sessions.record`. Shared by the SSH gateway, the web terminal and chat.
 */
export function recordModeFor(state: State, user: Pick<User, 'plan'> | undefined): RecordMode {
  const plan = user ? state.plans.find((p) => p.name === user.plan) : undefined;
  return plan?.record ?? effectiveConfig(state.config)['sessions.record'];
}

/** The line a recorded user reads before their session starts; null when nothing is recorded. */
export function recordingNotice(mode: RecordMode, keepSeconds: number): string | null {
  if (mode === 'off') return null;
  const what = mode === 'output+input' ? 'what you see and what you type (passwords too)' : 'what you see (not what you type)';
  return `berth: this session is recorded: ${what}; the operator keeps recordings for ${formatDuration(keepSeconds)}.`;
}

/** The notice for `user` now, from the state: what SSH, the web terminal and chat show. */
export function recordingNoticeFor(state: State, user: Pick<User, 'plan'> | undefined): string | null {
  return recordingNotice(recordModeFor(state, user), effectiveConfig(state.config)['sessions.record-keep']);
}
