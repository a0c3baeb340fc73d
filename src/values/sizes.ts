import { invalidInput } from '../errors.js';

const UNITS = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as const;
/** Docker refuses less than 6 MiB of memory for a container. */
export const MIN_MEMORY = 6 * UNITS.m;
export const MAX_MEMORY = 64 * UNITS.t;

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|[kmgt](?:i?b)?)$/;

/** Parses a memory size as Docker writes them (`512m`, `4g`, `1.5g`; binary units). */
export function parseSize(input: string, what = 'size'): number {
  const text = input.trim().toLowerCase();
  const match = SIZE.exec(text);
  if (!match) {
    const hint = /^\d+(\.\d+)?$/.test(text)
      ? `Add a unit: ${text}g or ${text}m.`
      : 'Write a positive number with a unit k, m, g or t, for example 512m or 4g.';
    return fail(`"${input}" is not a valid ${what}.`, hint);
  }
  const [, num = '', unit = ''] = match;
  const bytes = Math.round(Number(num) * UNITS[unit[0] as keyof typeof UNITS]);
  if (bytes < MIN_MEMORY) return fail(`${what} ${input} is too small.`, 'Use at least 6m.');
  if (bytes > MAX_MEMORY) return fail(`${what} ${input} is too large.`, 'Use at most 64t.');
  return bytes;
}

function fail(message: string, hint: string): never {
  throw invalidInput('INVALID_SIZE', message, hint);
}

/** The shortest exact form: 1073741824 → `1g`, 1610612736 → `1.5g`, else in a smaller unit. */
export function formatSize(bytes: number): string {
  for (const unit of ['t', 'g', 'm', 'k'] as const) {
    const value = bytes / UNITS[unit];
    if (value >= 1 && Number.isInteger(Math.round(value * 100 * 1e6) / 1e6)) return `${value}${unit}`;
  }
  return `${bytes}b`;
}

/** A measured amount, rounded for people: `53.4m`, `1.2g`, `512k`. */
export function formatUsage(bytes: number): string {
  for (const unit of ['t', 'g', 'm', 'k'] as const) {
    const value = bytes / UNITS[unit];
    if (value >= 1) return `${value >= 100 ? Math.round(value) : Math.round(value * 10) / 10}${unit}`;
  }
  return `${bytes}b`;
}

/** A disk quota: a size (at least 16m), or 0 / none / off for no quota. */
export function parseDiskSize(input: string, what = 'disk size'): number {
  const text = input.trim().toLowerCase();
  if (['0', 'none', 'off', 'unlimited'].includes(text)) return 0;
  const bytes = parseSize(text, what);
  if (bytes < 16 * UNITS.m) return fail(`${what} ${input} is too small.`, 'Use at least 16m, or 0 for no quota.');
  return bytes;
}

export const formatDiskSize = (bytes: number) => (bytes === 0 ? 'none' : formatSize(bytes));

const FILE_SIZE = /^(\d+(?:\.\d+)?)\s*([kmg])(?:i?b)?$/;

/** A file size (`512k`, `10m`, `1g`) from `min` bytes to 1g: for bounds on files berth writes. */
export function parseFileSize(input: string, what: string, min: number): number {
  const text = input.trim().toLowerCase();
  const match = FILE_SIZE.exec(text);
  if (!match) return fail(`"${input}" is not a valid ${what}.`, 'Write a number with a unit k, m or g, for example 512k or 10m.');
  const [, num = '', unit = ''] = match;
  const bytes = Math.round(Number(num) * UNITS[unit as 'k' | 'm' | 'g']);
  if (bytes < min) return fail(`${what} ${input} is too small.`, `Use at least ${formatSize(min)}.`);
  if (bytes > UNITS.g) return fail(`${what} ${input} is too large.`, 'Use at most 1g.');
  return bytes;
}
