import { createHash, randomBytes } from 'node:crypto';
import type { WebIdentity } from '../../src/services/access/web-links.js';

/** One browser logged in by a one-time link: the cookie's token is known only to that browser. */
export interface BrowserSession {
  who: WebIdentity;
  /** A short tag of the session (not the token): for the session list and the log. */
  tag: string;
  createdAt: number;
  lastSeen: number;
  /**
   * An app cookie's session: the one app host it was set for (its label) and the app it names: a
   * VM's port, or (`app` set, `vm` '') a user's deployed app, and that app's id (another app
   * deployed later under the same name is not it).
   */
  app?: { host: string; login: string; vm: string; port: number; app?: string; appId?: string };
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Browser sessions one user may hold; the oldest goes when a link makes one more. */
const PER_USER = 20;
/** Browser sessions in all; past it the least recently used goes. */
const MAX = 10_000;

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * The cookie sessions, in the daemon's memory only and kept by the SHA-256 of their token. Each
 * lasts `web.session-max` from its link and ends unused for `web.session-idle`. Bounded per
 * user and in all.
 */
export class BrowserSessions {
  private readonly all = new Map<string, BrowserSession>();

  private readonly perUser: number;
  private readonly max: number;

  constructor(
    private readonly now: () => number = Date.now,
    bounds: { perUser?: number; max?: number } = {},
  ) {
    this.perUser = bounds.perUser ?? PER_USER;
    this.max = bounds.max ?? MAX;
  }

  create(who: WebIdentity, app?: BrowserSession['app']): { token: string; session: BrowserSession } {
    const token = randomBytes(32).toString('base64url');
    const key = hash(token);
    const now = this.now();
    const own = [...this.all].filter(([, s]) => s.who.userId === who.userId).sort((a, b) => a[1].lastSeen - b[1].lastSeen);
    while (own.length >= this.perUser) this.all.delete(own.shift()?.[0] ?? '');
    if (this.all.size >= this.max) {
      // Map order is insertion order, and a touch re-inserts: the first is the least recently used.
      const first = this.all.keys().next();
      if (!first.done) this.all.delete(first.value);
    }
    const session: BrowserSession = { who, tag: key.slice(0, 8), createdAt: now, lastSeen: now, ...(app ? { app } : {}) };
    this.all.set(key, session);
    return { token, session };
  }

  /** The live session a cookie's token names (and it counts as used now), or null. */
  find(token: string | undefined, limits: { idleSeconds: number; maxSeconds: number }): BrowserSession | null {
    if (!token || !TOKEN.test(token)) return null;
    const key = hash(token);
    const session = this.all.get(key);
    if (!session) return null;
    const now = this.now();
    if (now - session.lastSeen >= limits.idleSeconds * 1000 || now - session.createdAt >= limits.maxSeconds * 1000) {
      this.all.delete(key);
      return null;
    }
    session.lastSeen = now;
    this.all.delete(key);
    this.all.set(key, session);
    return session;
  }

  /** The session is in use now (a terminal's traffic: no request touches the cookie then). */
  touch(session: BrowserSession): void {
    session.lastSeen = this.now();
  }

  /** Ends every session for which `withdrawn` gives a reason; returns how many. */
  drop(withdrawn: (s: BrowserSession) => string | null): number {
    let n = 0;
    for (const [key, s] of this.all) {
      if (withdrawn(s) === null) continue;
      this.all.delete(key);
      n++;
    }
    return n;
  }

  /** Forgets the sessions past their limits. */
  sweep(limits: { idleSeconds: number; maxSeconds: number }): void {
    const now = this.now();
    for (const [key, s] of this.all) {
      if (now - s.lastSeen >= limits.idleSeconds * 1000 || now - s.createdAt >= limits.maxSeconds * 1000) this.all.delete(key);
    }
  }

  get size(): number {
    return this.all.size;
  }
}
