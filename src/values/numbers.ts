import { invalidInput } from '../errors.js';

/** A whole number within [min, max], from text or a number. */
export function parseWhole(input: string | number, what: string, min: number, max: number): number {
  const text = String(input).trim();
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidInput('INVALID_NUMBER', `"${text.slice(0, 40)}" is not a valid ${what}.`, `Use a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** CPUs as Docker takes them: fractional, to 1/100 of a CPU (e.g. 0.5). */
export function parseCpus(input: string | number, what = 'CPU count'): number {
  const text = String(input).trim();
  const value = /^\d+(\.\d{1,2})?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0.01 && value <= 1024)) {
    throw invalidInput(
      'INVALID_CPUS',
      `"${text.slice(0, 40)}" is not a valid ${what}.`,
      'Use a number of CPUs from 0.01 to 1024, for example 0.5 or 2.',
    );
  }
  return value;
}

export type GpuCount = number | 'all';

/** `0`, a count, or `all` (every GPU: only when asked for by name). */
export function parseGpus(input: string | number): GpuCount {
  const text = String(input).trim().toLowerCase();
  if (text === 'all') return 'all';
  return parseWhole(text, 'GPU count (0, a count, or "all")', 0, 64);
}
