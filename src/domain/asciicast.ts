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
 * line, naming it; a last line cut short (a crash, a full disk) is left out.
 */
export function parseCast(text: string): ParsedCast {
  const lines = text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  // A recording cut short (a crash, a full disk) may end in half a line: that line is left out.
  if (lines.length > 1 && !text.endsWith('\n')) {
    try {
      JSON.parse(lines[lines.length - 1] ?? '');
    } catch {
      lines.pop();
    }
  }
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
/** The longest control sequence kept (parameters and all); a longer one is dropped whole. */
const MAX_SEQUENCE = 64;
/** ESC + one character that only draws or moves (save/restore cursor, index, reset, keypad modes). */
const ESC_FINALS = new Set(['7', '8', 'D', 'E', 'M', 'c', '=', '>']);
/** CSI finals that only draw, move, erase or scroll (no private marker, no intermediates). */
const CSI_DRAW = new Set('@ABCDEFGHIJKLMPSTXZ`abdefgmrsu'.split(''));
/** DEC private modes a replay may set or reset: cursor shown, autowrap, cursor blink, the alternate screen. */
const PRIVATE_MODES = new Set(['25', '7', '12', '47', '1047', '1048', '1049']);

type FilterState = 'ground' | 'esc' | 'escInter' | 'csi' | 'string' | 'stringEsc';

/**
 * Keeps a recorded user's output from acting on the operator's terminal beyond drawing. A small VT
 * parser (stateful: a sequence split over events is followed across them): text passes; CSI
 * sequences pass only when they draw, move, erase, scroll or set one of a few display modes
 * (never a query such as DSR or DA, window operations, keyboard, mouse or paste modes); OSC, DCS,
 * SOS, PM and APC strings (clipboard writes, titles, hyperlinks, terminal queries) and every C1
 * control are left out.
 */
export class TerminalFilter {
  private state: FilterState = 'ground';
  private sequence = '';

  write(data: string): string {
    let out = '';
    for (const ch of data) {
      const c = ch.codePointAt(0) ?? 0;
      switch (this.state) {
        case 'ground':
          if (ch === ESC) this.state = 'esc';
          else if (c >= 0x80 && c <= 0x9f)
            this.state = c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f ? 'string' : 'ground';
          else out += ch;
          break;
        case 'esc':
          if (ch === ESC) break; // ESC ESC: the first is void, the second starts anew
          if (ch === '[') {
            this.state = 'csi';
            this.sequence = '';
          } else if (ch === ']' || ch === 'P' || ch === 'X' || ch === '^' || ch === '_') this.state = 'string';
          else if (c >= 0x20 && c <= 0x2f) {
            this.state = 'escInter';
            this.sequence = ch;
          } else {
            this.state = 'ground';
            if (ESC_FINALS.has(ch)) out += ESC + ch;
            else if (c >= 0x80 && c <= 0x9f)
              this.state = c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f ? 'string' : 'ground';
          }
          break;
        case 'escInter':
          if (ch === ESC) this.state = 'esc';
          else if (c >= 0x20 && c <= 0x2f) this.sequence = this.sequence.length < MAX_SEQUENCE ? this.sequence + ch : this.sequence;
          else {
            this.state = 'ground';
            // Character set designations (ESC ( B and the like) only.
            if (this.sequence.length === 1 && '()*+'.includes(this.sequence) && c >= 0x30 && c <= 0x7e) out += ESC + this.sequence + ch;
          }
          break;
        case 'csi':
          if (ch === ESC) this.state = 'esc';
          else if (c >= 0x40 && c <= 0x7e) {
            this.state = 'ground';
            if (this.sequence.length <= MAX_SEQUENCE && csiDraws(this.sequence, ch)) out += `${ESC}[${this.sequence}${ch}`;
          } else if (c >= 0x20 && c <= 0x3f) this.sequence += ch;
          else if (c < 0x20) {
            // C0 controls inside a CSI are acted on at once by terminals; only the harmless ones pass.
            if (ch === '\r' || ch === '\n' || ch === '\b') out += ch;
          } else this.state = 'ground';
          break;
        case 'string':
          if (ch === '\x07' || c === 0x9c) this.state = 'ground';
          else if (ch === ESC) this.state = 'stringEsc';
          break;
        case 'stringEsc':
          // ESC \ ends the string; any other ESC sequence ends it too (as terminals do) and is itself dropped.
          this.state = ch === '\\' ? 'ground' : ch === ESC ? 'stringEsc' : 'ground';
          break;
      }
    }
    return out;
  }
}

/** Whether CSI `params` `final` only draws (see TerminalFilter). */
function csiDraws(params: string, final: string): boolean {
  // With an intermediate, only the cursor's shape (DECSCUSR, CSI Ps SP q).
  if (/[\x20-\x2f]/.test(params)) return final === 'q' && /^\d* $/.test(params);
  if (params.startsWith('?')) {
    if (final !== 'h' && final !== 'l') return false;
    return params
      .slice(1)
      .split(';')
      .every((m) => PRIVATE_MODES.has(m));
  }
  if (/[<=>]/.test(params)) return false;
  return CSI_DRAW.has(final);
}

/** What ends a replay in the operator's terminal: the modes a recording may have changed, back to normal. */
export const TERMINAL_RESET = `${ESC}[!p${ESC}[?1049l${ESC}[?1000;1002;1003;1006;1004;2004l${ESC}[r${ESC}(B${ESC}[0m${ESC}[?25h`;
