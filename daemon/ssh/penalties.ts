import { addPenalty, type Penalty, type PenaltyCause, type PenaltyRules, refusedForMs } from '../../src/domain/ssh-admission.js';
import { sourceKey } from './rate-limit.js';

/** Sources tracked at most; past it the penalty closest to its end makes room (sshd's overflow permissive). */
export const MAX_PENALISED_SOURCES = 10_000;

/**
 * The penalties of every source (keyed as the pre-login limits are: IPv4 address, IPv6 /64), in a
 * bounded table. When it is full, the ones that ran out go first, then the one closest to its end:
 * a flood of new sources can shorten others' penalties but never grow the table.
 */
export class SourcePenalties {
  private readonly table = new Map<string, Penalty>();

  constructor(
    private readonly maxSources = MAX_PENALISED_SOURCES,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * One misdeed of `source`. Returns how long the source is refused from now on (0 when not,
   * yet), and whether this misdeed is the one that made it refused.
   */
  penalise(source: string, cause: PenaltyCause, rules: PenaltyRules): { refusedMs: number; started: boolean } {
    const key = sourceKey(source);
    const now = this.now();
    const prev = this.table.get(key);
    const wasRefused = refusedForMs(prev, now) > 0;
    const next = addPenalty(prev, rules.amounts[cause], now, rules);
    if (!next) return { refusedMs: refusedForMs(prev, now), started: false };
    if (!prev) this.makeRoom(now);
    this.table.set(key, next);
    const refusedMs = refusedForMs(next, now);
    return { refusedMs, started: refusedMs > 0 && !wasRefused };
  }

  /** How long `source` is still refused (0: let it in). */
  refusedFor(source: string): number {
    const key = sourceKey(source);
    const penalty = this.table.get(key);
    if (!penalty) return 0;
    const now = this.now();
    if (penalty.untilMs <= now) {
      this.table.delete(key);
      return 0;
    }
    return refusedForMs(penalty, now);
  }

  /** Forgets every penalty (penalties turned off). */
  clear(): void {
    this.table.clear();
  }

  get size(): number {
    return this.table.size;
  }

  private makeRoom(now: number): void {
    if (this.table.size < this.maxSources) return;
    for (const [key, p] of this.table) if (p.untilMs <= now) this.table.delete(key);
    while (this.table.size >= this.maxSources) {
      let soonest: string | null = null;
      let soonestMs = Number.POSITIVE_INFINITY;
      for (const [key, p] of this.table) {
        if (p.untilMs < soonestMs) {
          soonest = key;
          soonestMs = p.untilMs;
        }
      }
      if (soonest === null) break;
      this.table.delete(soonest);
    }
  }
}
