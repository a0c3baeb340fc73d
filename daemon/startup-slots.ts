import { sourceKey } from '../src/values/source-key.js';

/** Why a connection not logged in yet was dropped at once. */
export type StartupRefusal = 'per-source' | 'startups-full' | 'startups-early-drop';

export interface StartupLimits {
  perSource: number;
  /** sshd's MaxStartups start:rate:full. */
  start: number;
  rate: number;
  full: number;
}

/**
 * sshd's random early drop: below `start` every connection is let in; from `start` on, `rate` %
 * of new ones are dropped, rising linearly to all of them at `full`. A few sources filling the
 * table can then not lock everybody out for long: their own new connections are dropped too.
 */
export function earlyDrop(open: number, limits: StartupLimits, random: () => number = Math.random): boolean {
  if (open < limits.start) return false;
  if (open >= limits.full) return true;
  const p = limits.rate + ((100 - limits.rate) * (open - limits.start)) / (limits.full - limits.start);
  return random() * 100 < p;
}

/**
 * Connections that have not logged in yet (SSH) or not sent a first request (web), per source and
 * overall (sshd's MaxStartups and PerSourceMaxStartups), counted from the TCP accept: past a cap a
 * new connection is dropped before any work is done for it.
 */
export class PreAuthSlots {
  private readonly bySource = new Map<string, number>();
  private total = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** Takes a slot, or says why not. The release it returns is idempotent. */
  take(source: string, limits: StartupLimits): (() => void) | StartupRefusal {
    const key = sourceKey(source);
    const n = this.bySource.get(key) ?? 0;
    if (n >= limits.perSource) return 'per-source';
    if (this.total >= limits.full) return 'startups-full';
    if (earlyDrop(this.total, limits, this.random)) return 'startups-early-drop';
    this.bySource.set(key, n + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.bySource.get(key) ?? 1) - 1;
      if (left <= 0) this.bySource.delete(key);
      else this.bySource.set(key, left);
    };
  }

  get open(): number {
    return this.total;
  }
}
