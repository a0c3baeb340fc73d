/**
 * What the chat core says, in no messenger's terms: text made of spans (bold, code, a block, a
 * link), buttons and a file. Everything is private to the person it answers: where others could
 * read along (a Discord channel) it is an ephemeral reply or a direct message. Each front-end renders it (Telegram as
 * HTML, Discord as Markdown) and escapes what the spans hold: handlers never escape.
 */

export type Span = string | { b: string } | { i: string } | { code: string } | { pre: string } | { link: string; href: string };

export type Rich = readonly Span[];

export interface Button {
  label: string;
  /** What the press carries back to the core (at most 64 bytes: Telegram's limit). */
  data: string;
}

export interface OutFile {
  name: string;
  data: Buffer;
  caption?: string;
}

export interface Message {
  text: Rich | string;
  /** Rows of buttons. */
  buttons?: Button[][];
  file?: OutFile;
  /** Links are not previewed (nothing but the person's browser opens a one-time link). */
  noPreview?: boolean;
}

export const b = (text: string): Span => ({ b: text });
export const i = (text: string): Span => ({ i: text });
export const code = (text: string): Span => ({ code: text });
export const pre = (text: string): Span => ({ pre: text });
export const link = (label: string, href: string): Span => ({ link: label, href });

export const asRich = (text: Rich | string): Rich => (typeof text === 'string' ? [text] : text);

/** Spans joined by a separator span (a newline, ", "…). */
export function joinRich(parts: readonly (Rich | Span)[], separator: string): Span[] {
  const out: Span[] = [];
  parts.forEach((part, n) => {
    if (n > 0) out.push(separator);
    if (Array.isArray(part)) out.push(...(part as Rich));
    else out.push(part as Span);
  });
  return out;
}

/** The words the text holds, without marks (for logs and tests of the core). */
export function plainText(text: Rich | string): string {
  return asRich(text)
    .map((s) => {
      if (typeof s === 'string') return s;
      if ('b' in s) return s.b;
      if ('i' in s) return s.i;
      if ('code' in s) return s.code;
      if ('pre' in s) return s.pre;
      return `${s.link} (${s.href})`;
    })
    .join('');
}

/** What `text` costs, each character costing `cost(c)`. */
export function sizeOf(text: string, cost: (c: string) => number): number {
  let size = 0;
  for (let n = 0; n < text.length; n++) size += cost(text[n] ?? '');
  return size;
}

/** The start of `text` whose size (each character costing `cost(c)`) is at most `limit`. */
export function headWithin(text: string, limit: number, cost: (c: string) => number = () => 1): string {
  let size = 0;
  let end = 0;
  while (end < text.length) {
    const next = cost(text[end] ?? '');
    if (size + next > limit) break;
    size += next;
    end++;
  }
  return text.slice(0, end);
}

/** Splits text at line ends into pieces of at most `limit` in size (each character costing `cost(c)`: 1 unless given). */
export function splitText(text: string, limit: number, cost: (c: string) => number = () => 1): string[] {
  const parts: string[] = [];
  let rest = text;
  while (sizeOf(rest, cost) > limit) {
    const fit = headWithin(rest, limit, cost).length;
    let cut = rest.lastIndexOf('\n', fit);
    if (cut < fit / 2) cut = fit;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

/**
 * The end of `text` whose rendered size (each character costing `cost(c)`) is at most `limit`;
 * never starting inside a surrogate pair.
 */
export function tailWithin(text: string, limit: number, cost: (c: string) => number): string {
  let size = 0;
  let start = text.length;
  while (start > 0) {
    const next = cost(text[start - 1] ?? '');
    if (size + next > limit) break;
    size += next;
    start--;
  }
  if (/[\udc00-\udfff]/.test(text[start] ?? '')) start++;
  return text.slice(start);
}
