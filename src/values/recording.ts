import { BerthError } from '../errors.js';

/** What a session's recording keeps: nothing, what the user saw, or that and what they typed. */
export const RECORD_MODES = ['off', 'output', 'output+input'] as const;
export type RecordMode = (typeof RECORD_MODES)[number];

export function parseRecordMode(input: string, what = 'sessions.record'): RecordMode {
  const s = input.trim().toLowerCase();
  if ((RECORD_MODES as readonly string[]).includes(s)) return s as RecordMode;
  throw new BerthError(
    'INVALID_RECORD_MODE',
    `"${input}" is not a recording mode for ${what}.`,
    'Use off (nothing recorded), output (what the user sees) or output+input (and what they type, passwords included).',
  );
}
