import type { Terminal as HeadlessTerminal } from '@xterm/headless';

/** Lines of scrollback a web terminal keeps server-side for a reattaching browser. */
const SCROLLBACK = 1000;
/**
 * The most UTF-16 units one REP (`CSI n b`, repeat the last character) may make. xterm allocates
 * the character's length × n at once: a VM printing a character with many combining marks and a
 * count near 2^31 would make it throw (in its own timer, where nothing catches it) or take
 * gigabytes. A larger REP is dropped from the server-side screen; the browser still shows it.
 */
const MAX_REPEAT_UNITS = 64 * 1024;
/** A REP of more than this many characters is dropped whatever it repeats (more than a whole screen). */
const MAX_REPEAT = 500 * 200;

type Headless = typeof import('@xterm/headless');
type Serialize = typeof import('@xterm/addon-serialize');
let loaded: Promise<{ Terminal: Headless['Terminal']; SerializeAddon: Serialize['SerializeAddon'] }> | null = null;

/** Loaded at the first web terminal: a daemon that never serves one never pays for them. */
function modules() {
  loaded ??= Promise.all([import('@xterm/headless'), import('@xterm/addon-serialize')]).then(([h, s]) => ({
    // Both are CommonJS: their exports are the default export's properties.
    Terminal: ((h as unknown as { default: Headless }).default ?? h).Terminal,
    SerializeAddon: ((s as unknown as { default: Serialize }).default ?? s).SerializeAddon,
  }));
  return loaded;
}

/**
 * The screen of one web terminal, kept server-side (@xterm/headless) so that a browser that comes
 * back gets it as it is (@xterm/addon-serialize): what is shown and SCROLLBACK lines above it.
 * Its memory is bounded by the size (cols × rows, capped) and the scrollback.
 */
export class Screen {
  private constructor(
    private readonly term: HeadlessTerminal,
    private readonly serializer: { serialize(options?: { scrollback?: number }): string },
  ) {}

  static async create(cols: number, rows: number): Promise<Screen> {
    const { Terminal, SerializeAddon } = await modules();
    // logLevel off: xterm reports a VM's malformed output on the daemon's stderr otherwise.
    const term = new Terminal({ cols, rows, scrollback: SCROLLBACK, allowProposedApi: true, logLevel: 'off' });
    term.parser.registerCsiHandler({ final: 'b' }, (params) => {
      const count = typeof params[0] === 'number' ? Math.max(1, params[0]) : 1;
      if (count > MAX_REPEAT) return true;
      // xterm repeats the cell one character width back (two for a wide one) or, with a wrap
      // pending, the one under the cursor: the longest of those is what it may copy.
      const buffer = term.buffer.active;
      const line = buffer.getLine(buffer.baseY + buffer.cursorY);
      let longest = 1;
      for (const x of [buffer.cursorX - 2, buffer.cursorX - 1, buffer.cursorX]) {
        if (x < 0 || x >= term.cols) continue;
        longest = Math.max(longest, line?.getCell(x)?.getChars().length ?? 0);
      }
      // true: handled here (dropped); false: xterm's own handler repeats it.
      return longest * count > MAX_REPEAT_UNITS;
    });
    const serializer = new SerializeAddon();
    term.loadAddon(serializer);
    return new Screen(term, serializer);
  }

  /** Output since the last parse: handed to the parser in one piece per turn of the event loop. */
  private queued: Buffer[] = [];
  private scheduled = false;

  write(data: Buffer): void {
    this.queued.push(data);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queued.length === 0) return;
    const data = this.queued.length === 1 ? this.queued[0] : Buffer.concat(this.queued);
    this.queued = [];
    if (!data) return;
    try {
      this.term.write(data);
    } catch {
      // A VM's output that the parser refuses ends nothing but its own rendering.
    }
  }

  resize(cols: number, rows: number): void {
    try {
      this.term.resize(cols, rows);
    } catch {
      // As for write: the screen keeps its old size.
    }
  }

  /** The screen as escape sequences that redraw it, once what was written so far is parsed. */
  async snapshot(): Promise<string> {
    this.flush();
    await new Promise<void>((resolve) => this.term.write('', resolve));
    return this.serializer.serialize({ scrollback: SCROLLBACK });
  }

  dispose(): void {
    this.term.dispose();
  }
}
