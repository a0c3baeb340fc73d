import type pino from 'pino';

/** The key every source over the cap is counted under. */
export const OVERFLOW_KEY = '(other sources)';

interface Entry {
  source: string;
  reason: string;
  /** Occurrences since the last line written for this source and reason. */
  count: number;
  fields: Record<string, unknown>;
  msg: string;
}

export interface LogSummaryOptions {
  /** How often what was counted is written out (ms). */
  intervalMs?: number;
  /** Sources and reasons kept apart at most; the rest are counted under OVERFLOW_KEY. */
  maxKeys?: number;
  level?: 'info' | 'warn';
}

/**
 * Refusals and drops without flooding the log: the first of a source and reason is written
 * at once, the ones after it are counted and written as one line (`count`) per interval.
 * One address reconnecting in a loop costs a line per interval, not one per connection.
 */
export class LogSummary {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly level: 'info' | 'warn';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: pino.Logger,
    options: LogSummaryOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.maxKeys = options.maxKeys ?? 1000;
    this.level = options.level ?? 'warn';
  }

  /** One refusal or drop from `source` for `reason`, described by `msg` and `fields`. */
  note(source: string, reason: string, msg: string, fields: Record<string, unknown> = {}): void {
    let key = `${reason}\0${source}`;
    let entry = this.entries.get(key);
    if (!entry && this.entries.size >= this.maxKeys) {
      key = `${reason}\0${OVERFLOW_KEY}`;
      entry = this.entries.get(key);
      source = OVERFLOW_KEY;
      fields = {};
    }
    if (entry) {
      entry.count++;
      return;
    }
    // The first one: written now; the ones until the next flush are counted.
    this.entries.set(key, { source, reason, count: 0, fields, msg });
    this.log[this.level]({ source, reason, ...fields }, msg);
    this.arm();
  }

  /** Writes a line for each source and reason seen again since the last flush; forgets the quiet ones. */
  flush(): void {
    for (const [key, e] of this.entries) {
      if (e.count === 0) {
        this.entries.delete(key);
        continue;
      }
      this.log[this.level](
        { source: e.source, reason: e.reason, ...e.fields, count: e.count, intervalMs: this.intervalMs },
        `${e.msg} (repeated)`,
      );
      e.count = 0;
    }
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close(): void {
    this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get size(): number {
    return this.entries.size;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }
}
