/**
 * asciicast v2 (asciinema's recording format), written and read: a header line (a JSON object) and
 * one JSON array per event, `[seconds, code, data]`: output `o`, input `i`, resize `r` ("COLSxROWS"),
 * marker `m`. Pure: the files are written by src/host/cast-writer.ts.
 */

export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Unix time of the start, in seconds. */
  timestamp: number;
  command?: string;
  title?: string;
  env?: Record<string, string>;
  /** berth's own fields (asciinema's tools ignore unknown ones). */
  berth?: { session: string; user: string; userId: string; vm: string; via: string; input: boolean };
}

export type CastCode = 'o' | 'i' | 'r' | 'm';
export type CastEvent = [number, CastCode, string];

const MAX_SIZE = 10_000;

function dimension(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SIZE) throw new Error(`the ${what} ${n} is not a terminal size`);
  return n;
}

/** The header line (no newline). */
export function castHeader(header: Omit<CastHeader, 'version'>): string {
  const out: CastHeader = {
    version: 2,
    width: dimension(header.width, 'width'),
    height: dimension(header.height, 'height'),
    timestamp: Math.floor(header.timestamp),
    ...(header.command !== undefined ? { command: header.command } : {}),
    ...(header.title !== undefined ? { title: header.title } : {}),
    ...(header.env ? { env: header.env } : {}),
    ...(header.berth ? { berth: header.berth } : {}),
  };
  return JSON.stringify(out);
}

/** Seconds with microseconds, as asciinema writes them. */
const seconds = (ms: number) => Math.round(Math.max(0, ms) * 1000) / 1e6;

/** One event line (no newline); `ms` since the start. */
export function castEvent(ms: number, code: CastCode, data: string): string {
  return JSON.stringify([seconds(ms), code, data]);
}

export const resizeData = (columns: number, rows: number) => `${dimension(columns, 'width')}x${dimension(rows, 'height')}`;

export interface ParsedCast {
  header: CastHeader;
  events: CastEvent[];
}

/**
 * A recording read back, every line checked: a v2 header with a size, then events whose times
 * never go backwards and whose codes and data are what the format says. Throws on the first bad
 * line, naming it.
 */
export function parseCast(text: string): ParsedCast {
  const lines = text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  const [first = '', ...rest] = lines;
  let header: CastHeader;
  try {
    header = JSON.parse(first) as CastHeader;
  } catch {
    throw new Error('line 1 is not a JSON header');
  }
  if (header?.version !== 2) throw new Error('line 1 is not an asciicast v2 header');
  dimension(header.width, 'width');
  dimension(header.height, 'height');
  if (typeof header.timestamp !== 'number') throw new Error('the header has no timestamp');
  const events: CastEvent[] = [];
  let last = 0;
  rest.forEach((line, i) => {
    const where = `line ${i + 2}`;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      throw new Error(`${where} is not JSON`);
    }
    if (!Array.isArray(event) || event.length !== 3) throw new Error(`${where} is not an event [time, code, data]`);
    const [t, code, data] = event as [unknown, unknown, unknown];
    if (typeof t !== 'number' || t < last) throw new Error(`${where}: its time goes backwards or is not a number`);
    if (code !== 'o' && code !== 'i' && code !== 'r' && code !== 'm') throw new Error(`${where}: "${String(code)}" is not an event code`);
    if (typeof data !== 'string') throw new Error(`${where}: its data is not text`);
    if (code === 'r' && !/^\d{1,5}x\d{1,5}$/.test(data)) throw new Error(`${where}: "${data}" is not a size COLSxROWS`);
    last = t;
    events.push([t, code, data]);
  });
  return { header, events };
}

/** One piece of a replay: output to write after `delayMs` (from the one before). */
export interface ReplayFrame {
  delayMs: number;
  data: string;
}

/**
 * What a terminal replay writes, and when: output events only (input was echoed by the terminal
 * already; resizes cannot be made on the viewer's terminal), each pause divided by `speed` and
 * cut to `idleLimit` seconds (as asciinema's own player does).
 */
export function replayFrames(events: readonly CastEvent[], options: { speed: number; idleLimit: number }): ReplayFrame[] {
  const out: ReplayFrame[] = [];
  let last = 0;
  for (const [t, code, data] of events) {
    if (code !== 'o') continue;
    const pause = Math.min(Math.max(0, t - last), options.idleLimit);
    last = t;
    out.push({ delayMs: (pause * 1000) / options.speed, data });
  }
  return out;
}

const ESC = '\x1b';
/** String sequences (OSC, DCS, SOS, PM, APC) by their 7-bit and 8-bit introducers. */
const STRING_START = new Set([']', 'P', 'X', '^', '_']);
const STRING_START_C1 = new Set(['\x9d', '\x90', '\x98', '\x9e', '\x9f']);

/**
 * Keeps a recorded user's output from acting on the operator's terminal beyond drawing: OSC, DCS,
 * SOS, PM and APC strings (clipboard writes, titles, hyperlinks, terminal queries and their like)
 * are left out; text, colours and cursor movement (CSI) pass. Stateful: a sequence split over
 * events is followed across them.
 */
export class TerminalFilter {
  /** Inside a string sequence (until BEL, ST or ESC \\). */
  private inString = false;
  /** The last character was an ESC. */
  private escape = false;

  write(data: string): string {
    let out = '';
    for (const ch of data) {
      if (this.inString) {
        if (ch === '\x07' || ch === '\x9c') this.inString = false;
        else if (this.escape && ch === '\\') this.inString = false;
        this.escape = ch === ESC;
        continue;
      }
      if (this.escape) {
        this.escape = false;
        if (STRING_START.has(ch)) {
          this.inString = true;
          continue;
        }
        out += ESC + ch;
        continue;
      }
      if (ch === ESC) {
        this.escape = true;
        continue;
      }
      if (STRING_START_C1.has(ch)) {
        this.inString = true;
        continue;
      }
      out += ch;
    }
    return out;
  }
}
