import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import pino from 'pino';

export interface LogLimits {
  /** Rotated when a line would take the file past this many bytes. */
  maxBytes: number;
  /** Rotated files kept: `file.1` (newest) … `file.N`. */
  keep: number;
}

/**
 * The daemon's log file, rotated by size in the daemon itself: `daemon.log` is always the
 * current file (what `berth daemon logs` reads), `daemon.log.1` … `.N` the older ones; more
 * are removed. Lines are written synchronously (as pino does to stdout): none is lost when the
 * daemon exits on a fatal error. SIGHUP reopens the file, for an external logrotate too.
 */
export class RotatingLogFile {
  private readonly dest: ReturnType<typeof pino.destination>;
  private size: number;

  constructor(
    readonly path: string,
    private limits: LogLimits,
  ) {
    this.dest = pino.destination({ dest: path, sync: true, mkdir: true, mode: 0o600 });
    this.size = existsSync(path) ? statSync(path).size : 0;
  }

  setLimits(limits: LogLimits): void {
    this.limits = limits;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.limits.maxBytes) this.rotate();
    this.dest.write(line);
    this.size += bytes;
  }

  /** `file` → `file.1` → … → `file.N`; the one past N is removed; a new `file` is opened. */
  rotate(): void {
    const { keep } = this.limits;
    try {
      rmSync(`${this.path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      // Files beyond `keep` (it was lowered) go too.
      for (let i = keep + 1; existsSync(`${this.path}.${i}`); i++) rmSync(`${this.path}.${i}`, { force: true });
      renameSync(this.path, `${this.path}.1`);
    } catch {
      // A file that could not be moved is written on: the log never stops for want of rotation.
    }
    this.reopen();
  }

  /** Opens `path` anew (after a rotation, or when logrotate moved it: SIGHUP). */
  reopen(): void {
    try {
      this.dest.reopen();
    } catch {
      // Not writable now (disk full, directory gone): the old file is written on.
    }
    this.size = existsSync(this.path) ? statSync(this.path).size : 0;
  }

  flushSync(): void {
    this.dest.flushSync();
  }
}
