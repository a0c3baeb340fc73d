import { invalidInput } from '../errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const PART = /(\d+)([smhd])/g;
const WHOLE = /^(?:\d+[smhd])+$/;
const MAX = 365 * 86400;

/** Parses `0`, `90s`, `30m`, `1h30m`, `2d` into seconds (0 means off). */
export function parseDuration(input: string, what = 'duration'): number {
  const text = input.trim().toLowerCase();
  if (text === '0' || text === 'off') return 0;
  if (!WHOLE.test(text)) {
    throw invalidInput(
      'INVALID_DURATION',
      `"${input}" is not a valid ${what}.`,
      'Write a number with a unit s, m, h or d (for example 30m, 1h30m, 2d), or 0 for off.',
    );
  }
  let seconds = 0;
  for (const [, n = '0', unit = 's'] of text.matchAll(PART)) {
    seconds += Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  }
  if (seconds > MAX) {
    throw invalidInput('INVALID_DURATION', `${what} ${input} is longer than a year.`, 'Use at most 365d.');
  }
  return seconds;
}

/** 5400 → `1h30m`; 0 → `0`. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0';
  let rest = seconds;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_SECONDS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** A moment (ISO) as berth shows it to people, to the minute: `2026-12-01 10:45 UTC`. */
export const utcMinute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
