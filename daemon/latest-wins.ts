/**
 * Calls `send` with the values pushed, one call at a time: what is pushed while a call runs waits
 * for it, and only the latest such value is sent next (the ones before it are dropped). A failed
 * call is ignored; `send` returns nothing when it makes none (nothing to wait for).
 * For requests a client can send as fast as it likes (window sizes, signals).
 */
export class LatestWins<T> {
  private busy = false;
  private next: { value: T } | null = null;

  constructor(private readonly send: (value: T) => Promise<void> | undefined) {}

  push(value: T): void {
    this.next = { value };
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.next) {
        const { value } = this.next;
        this.next = null;
        const call = this.send(value);
        if (call) await call.catch(() => undefined);
      }
    } finally {
      this.busy = false;
      this.next = null;
    }
  }
}
