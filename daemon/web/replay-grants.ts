import { createHash, randomBytes } from 'node:crypto';
import type { WebIdentity } from '../../src/services/access/web-links.js';

/**
 * What a spent replay link gives a browser: the right to watch one recording, for a while. Not a
 * browser session: it opens no terminal, no app and no other recording.
 */
export interface ReplayGrant {
  /** The operator (OPERATOR_VIEWER) or the user whose recording it is. */
  who: WebIdentity;
  /** The recording's id (the session id). */
  recording: string;
  /** A short tag of the grant (not the token): for the log. */
  tag: string;
  expiresAt: number;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Grants held at once; past it the oldest goes. */
const MAX = 1000;
/** Grants one viewer holds at once; past it their oldest goes (no one can push out another's). */
const PER_VIEWER = 20;
/** Cookie values of the replay cookie's name tried per request. */
const MAX_TRIED = 64;
/** How long a grant lasts from its link. */
const TTL_MS = 60 * 60_000;

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * The replay grants, in the daemon's memory only and kept by the SHA-256 of their token (the
 * cookie holds the token). Each lasts an hour (TTL_MS) from its link; at most MAX are held.
 */
export class ReplayGrants {
  private readonly all = new Map<string, ReplayGrant>();
  private readonly max: number;
  readonly ttlMs: number;

  constructor(
    private readonly now: () => number = Date.now,
    bounds: { max?: number; ttlMs?: number } = {},
  ) {
    this.max = bounds.max ?? MAX;
    this.ttlMs = bounds.ttlMs ?? TTL_MS;
  }

  create(who: WebIdentity, recording: string): { token: string; grant: ReplayGrant } {
    this.sweep();
    const mine = [...this.all.entries()].filter(([, g]) => g.who.userId === who.userId);
    for (const [key] of mine.slice(0, Math.max(0, mine.length - PER_VIEWER + 1))) this.all.delete(key);
    // Map order is insertion order: the first is the oldest.
    while (this.all.size >= this.max) {
      const first = this.all.keys().next();
      if (first.done) break;
      this.all.delete(first.value);
    }
    const token = randomBytes(32).toString('base64url');
    const key = hash(token);
    const grant: ReplayGrant = { who, recording, tag: key.slice(0, 8), expiresAt: this.now() + this.ttlMs };
    this.all.set(key, grant);
    return { token, grant };
  }

  /** The live grant for `recording` among a request's cookie tokens, or null. */
  find(tokens: readonly string[], recording: string): ReplayGrant | null {
    const now = this.now();
    // A page's own cookie may sit among others (an app on a sibling host can set some): all of a
    // bounded number are tried.
    for (const token of tokens.slice(0, MAX_TRIED)) {
      if (!TOKEN.test(token)) continue;
      const key = hash(token);
      const grant = this.all.get(key);
      if (!grant) continue;
      if (grant.expiresAt <= now) {
        this.all.delete(key);
        continue;
      }
      if (grant.recording === recording) return grant;
    }
    return null;
  }

  /** Ends every grant for which `withdrawn` gives a reason; returns how many. */
  drop(withdrawn: (g: ReplayGrant) => string | null): number {
    let n = 0;
    for (const [key, g] of this.all) {
      if (withdrawn(g) === null) continue;
      this.all.delete(key);
      n++;
    }
    return n;
  }

  /** Forgets the expired grants. */
  sweep(): void {
    const now = this.now();
    for (const [key, g] of this.all) if (g.expiresAt <= now) this.all.delete(key);
  }

  get size(): number {
    return this.all.size;
  }
}
