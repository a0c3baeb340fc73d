import type { Logger } from 'pino';

const DEFAULT_INTERVAL_MS = 10 * 60_000;
/** Accounts remembered per interval, so that one stranger's repeated /start counts once. */
const MAX_REMEMBERED = 1000;

/** BERTH_TELEGRAM_DIGEST_MS (tests), else every 10 minutes. */
export function digestInterval(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.BERTH_TELEGRAM_DIGEST_MS);
  return Number.isInteger(ms) && ms >= 100 && ms <= 86_400_000 ? ms : DEFAULT_INTERVAL_MS;
}

export function digestText(count: number): string {
  const who = count === 1 ? '1 more person' : `${count} more people`;
  return `🚫 ${who} asked for access and ${count === 1 ? 'was' : 'were'} turned away while the waiting list was full (telegram.max-pending). Review the waiting list: /users here, or berth user list --status pending; approve or reject to make room.`;
}

/**
 * Strangers turned away while the waiting list is full, told to the admins as one message per
 * interval instead of one each: the first refusal of a quiet spell starts the interval, and its
 * end sends how many were turned away in it. Memory is bounded: a count and at most
 * MAX_REMEMBERED accounts (past that, a repeated /start may count twice).
 */
export class TurnedAwayDigest {
  private count = 0;
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly toAdmins: (text: string) => Promise<void>,
    private readonly log: Logger,
    private readonly intervalMs = digestInterval(),
  ) {}

  /** A stranger's /start was refused because the waiting list is full (`account`: "telegram:123"). */
  note(account: string): void {
    if (this.stopped || this.seen.has(account)) return;
    if (this.seen.size < MAX_REMEMBERED) this.seen.add(account);
    this.count++;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.send().catch((err: Error) => this.log.warn({ err: err.message }, 'could not send the turned-away digest'));
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  private async send(): Promise<void> {
    const count = this.count;
    this.count = 0;
    this.seen.clear();
    this.timer = null;
    if (count === 0 || this.stopped) return;
    this.log.info({ count }, 'strangers turned away while the waiting list was full');
    await this.toAdmins(digestText(count));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
