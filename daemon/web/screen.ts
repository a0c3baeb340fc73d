import type { Terminal as HeadlessTerminal } from '@xterm/headless';

/** Lines of scrollback a web terminal keeps server-side for a reattaching browser. */
const SCROLLBACK = 1000;

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
    const term = new Terminal({ cols, rows, scrollback: SCROLLBACK, allowProposedApi: true });
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
    if (data) this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
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
