/**
 * One account's turns one after the other, like grammY's sequentialize: a slow command holds up
 * only its own sender's next ones. Bounded: at most `maxWaiting` turns wait per key and at most
 * `maxKeys` keys are followed; past either, `run` says no and the turn is refused.
 */
export class PerKey {
  private readonly chains = new Map<string, { tail: Promise<void>; waiting: number }>();

  constructor(
    private readonly maxWaiting: number,
    private readonly maxKeys = 10_000,
  ) {}

  run(key: string, work: () => Promise<void>): boolean {
    let entry = this.chains.get(key);
    if (!entry) {
      if (this.chains.size >= this.maxKeys) return false;
      entry = { tail: Promise.resolve(), waiting: 0 };
      this.chains.set(key, entry);
    }
    if (entry.waiting > this.maxWaiting) return false;
    const mine = entry;
    mine.waiting++;
    mine.tail = mine.tail
      .then(work)
      .catch(() => undefined)
      .finally(() => {
        mine.waiting--;
        if (mine.waiting === 0 && this.chains.get(key) === mine) this.chains.delete(key);
      });
    return true;
  }

  get size(): number {
    return this.chains.size;
  }
}
