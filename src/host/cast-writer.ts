import { type FileHandle, open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { type CastHeader, castEvent, castHeader, resizeData } from '../domain/asciicast.js';

/**
 * A session's recording, written as it happens without ever holding the session up: every call
 * returns at once; lines wait in a bounded queue for one writer. When the queue is full, output
 * is dropped (counted) and, once there is room again, a marker event says how much; past the
 * recording's size cap it ends with a marker; a write that fails (a full disk) ends the recording,
 * never the session. The file is made new (never an existing one followed or reused), mode 0600.
 */
export interface CastWriterOptions {
  /** Most bytes of lines waiting to be written; more output is dropped. */
  maxQueuedBytes: number;
  /** Most bytes of the whole file; the recording ends there. */
  maxFileBytes: number;
  /** Input events kept (the operator asked for them). */
  input: boolean;
  /** A clock in milliseconds that never goes back (default: performance.now). */
  now?: () => number;
  /** Told of each write and each drop as they happen (the metrics). */
  onWrite?: (bytes: number) => void;
  onDrop?: (frames: number) => void;
}

export interface CastStats {
  bytesWritten: number;
  droppedBytes: number;
  droppedFrames: number;
  /** Why it stopped recording before the session ended, if it did. */
  stopped: 'cap' | 'error' | null;
}

const END_MARKER = 'berth: the recording reached its size cap and ends here';
/** Bytes kept for the end marker: its line with a time of up to 12 digits. */
const END_RESERVE = END_MARKER.length + 32;

export class CastWriter {
  private readonly started: number;
  private readonly now: () => number;
  private readonly out = new StringDecoder('utf8');
  private readonly typed = new StringDecoder('utf8');
  private queue: string[] = [];
  private queued = 0;
  private pendingDrop = { bytes: 0, frames: 0 };
  private writing: Promise<void> | null = null;
  private closed = false;
  readonly stats: CastStats = { bytesWritten: 0, droppedBytes: 0, droppedFrames: 0, stopped: null };

  private constructor(
    private readonly file: FileHandle,
    private readonly options: CastWriterOptions,
    header: string,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.push(`${header}\n`);
  }

  /** Makes `path` (it must not exist) and writes the header. */
  static async create(path: string, header: Omit<CastHeader, 'version'>, options: CastWriterOptions): Promise<CastWriter> {
    const line = castHeader({ ...header, width: castSize(header.width), height: castSize(header.height) });
    const file = await open(path, 'wx', 0o600);
    return new CastWriter(file, options, line);
  }

  output(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.out.write(chunk);
    if (text) this.event('o', text, Buffer.byteLength(text));
  }

  input(chunk: Buffer | string): void {
    if (!this.options.input) return;
    const text = typeof chunk === 'string' ? chunk : this.typed.write(chunk);
    if (text) this.event('i', text, Buffer.byteLength(text));
  }

  /** A new terminal size; one out of range is clamped, never refused (a client chooses it). */
  resize(columns: number, rows: number): void {
    this.event('r', resizeData(castSize(columns), castSize(rows)), 0, true);
  }

  marker(label: string): void {
    this.event('m', label, 0, true);
  }

  private event(code: 'o' | 'i' | 'r' | 'm', data: string, size: number, always = false): void {
    if (this.closed || this.stats.stopped) return;
    const limit = this.options.maxQueuedBytes;
    // Past the queue, output is dropped; resizes and markers are kept up to twice the queue (then dropped too).
    if (always ? this.queued > 2 * limit : this.queued + size > limit || (this.pendingDrop.frames > 0 && this.queued >= limit / 2)) {
      this.drop(size);
      return;
    }
    const ms = this.now() - this.started;
    // Any line after a gap comes after the marker that says how much is missing.
    this.flushDropMarker(ms);
    const line = `${castEvent(ms, code, data)}\n`;
    if (!always && this.queued + line.length > limit) {
      this.drop(size);
      return;
    }
    this.push(line);
  }

  private drop(size: number): void {
    this.stats.droppedBytes += size;
    this.stats.droppedFrames += 1;
    this.pendingDrop.bytes += size;
    this.pendingDrop.frames += 1;
    this.options.onDrop?.(1);
  }

  private flushDropMarker(ms: number): void {
    if (this.pendingDrop.frames === 0) return;
    const { bytes, frames } = this.pendingDrop;
    this.pendingDrop = { bytes: 0, frames: 0 };
    this.push(
      `${castEvent(ms, 'm', `berth: ${bytes} bytes of output in ${frames} frames were not recorded (the recording fell behind)`)}\n`,
    );
  }

  private push(line: string): void {
    this.queue.push(line);
    this.queued += line.length;
    this.writing ??= this.drain();
  }

  /** One writer: the queue's lines in order, as one write each time round. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.stats.stopped) {
        const batch = this.queue.join('');
        this.queue = [];
        this.queued = 0;
        const bytes = Buffer.from(batch);
        // Room is always kept for the end marker, so that the file never passes the cap.
        const room = this.options.maxFileBytes - END_RESERVE - this.stats.bytesWritten;
        if (bytes.length > room) {
          // The cap: what fits of whole lines, then the end marker.
          const end = `${castEvent(this.now() - this.started, 'm', END_MARKER)}\n`;
          const fit = wholeLines(batch, room);
          await this.writeAll(Buffer.from(fit + end));
          this.stats.stopped = 'cap';
          break;
        }
        await this.writeAll(bytes);
      }
    } catch {
      this.stats.stopped = 'error';
    } finally {
      this.writing = null;
      if (this.queue.length > 0 && !this.stats.stopped) this.writing = this.drain();
    }
  }

  /** All of `bytes`, however many writes it takes (a write may take part of it). */
  private async writeAll(bytes: Buffer): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const { bytesWritten } = await this.file.write(bytes, at, bytes.length - at);
      if (bytesWritten <= 0) throw new Error('the recording could not be written');
      at += bytesWritten;
      this.stats.bytesWritten += bytesWritten;
      this.options.onWrite?.(bytesWritten);
    }
  }

  /** Writes what is queued and closes the file; the stats are final. */
  async close(): Promise<CastStats> {
    if (this.closed) return this.stats;
    const tail = this.out.end();
    if (tail) this.event('o', tail, Buffer.byteLength(tail));
    if (!this.stats.stopped) this.flushDropMarker(this.now() - this.started);
    this.closed = true;
    while (this.writing) await this.writing;
    await this.file.close().catch(() => undefined);
    return this.stats;
  }
}

/** A terminal size a recording can hold: from 1 to 9999, whatever a client asked for. */
export const castSize = (n: number): number => (Number.isFinite(n) ? Math.min(9999, Math.max(1, Math.floor(n))) : 80);

/** The longest run of whole lines of `text` within `bytes`. */
function wholeLines(text: string, bytes: number): string {
  let out = '';
  let size = 0;
  for (const line of text.split(/(?<=\n)/)) {
    const n = Buffer.byteLength(line);
    if (size + n > bytes) break;
    out += line;
    size += n;
  }
  return out;
}
