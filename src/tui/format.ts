/** Text helpers for the TUI's fixed-width cells. */

const MB = 1024 * 1024;

/** Cuts text to `width` terminal cells, with an ellipsis when cut. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text.padEnd(width);
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

export function fitRight(text: string, width: number): string {
  return text.length <= width ? text.padStart(width) : fit(text, width);
}

export const mb = (bytes: number) => String(Math.round(bytes / MB));

/** 2.5 GiB → `2.5G`, 512 MiB → `512M`. */
export function shortSize(bytes: number): string {
  const g = bytes / (1024 * MB);
  if (g >= 1) return `${Math.round(g * 10) / 10}G`;
  return `${Math.round(bytes / MB)}M`;
}

/** A short span: `45s`, `12m`, `3h05m`, `2d4h`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** `2026-05-01T03:00:00.000Z` → `05-01 03:00` (local time). */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const DASH = '–';
