import { sourceKey } from './rate-limit.js';

/** What a source did to earn a penalty (sshd's PerSourcePenalties grace-exceeded and noauth). */
export type PenaltyCause = 'grace-exceeded' | 'noauth';

/** The penalty rules in force (config keys ssh.penalty-…), in ms; a cause of 0 earns nothing. */
export interface PenaltyRules {
  /** The longest a source can be refused for, however much it earned (0: penalties off). */
  maxMs: number;
  /** Penalties are only enforced once this much has built up (a single slip costs nothing). */
  minMs: number;
  amounts: Record<PenaltyCause, number>;
}

/** One source's penalty: refused until `untilMs` once `active`. */
export interface Penalty {
  untilMs: number;
  active: boolean;
}

/**
 * sshd's PerSourcePenalties, as a decision: a source with no running penalty starts one of
 * `amountMs`; one with a running penalty has it lengthened by `amountMs`, to at most `maxMs` from
 * now. It is enforced once what is left reaches `minMs`, and stays so until it runs out. What is
 * left shrinks as time passes, so a source that stops misbehaving is let in again.
 * Returns the penalty unchanged when the cause earns nothing.
 */
export function addPenalty(
  prev: Penalty | undefined,
  amountMs: number,
  nowMs: number,
  rules: Pick<PenaltyRules, 'maxMs' | 'minMs'>,
): Penalty | undefined {
  if (amountMs <= 0 || rules.maxMs <= 0) return prev;
  const running = prev !== undefined && prev.untilMs > nowMs;
  const untilMs = Math.min((running ? prev.untilMs : nowMs) + amountMs, nowMs + rules.maxMs);
  // A threshold over the maximum could never be reached: the maximum is the threshold then.
  const threshold = Math.min(rules.minMs, rules.maxMs);
  return { untilMs, active: (running && prev.active) || untilMs - nowMs >= threshold };
}

/** How long a source with this penalty is still refused (0: it is let in). */
export function refusedForMs(penalty: Penalty | undefined, nowMs: number): number {
  return penalty?.active && penalty.untilMs > nowMs ? penalty.untilMs - nowMs : 0;
}

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
