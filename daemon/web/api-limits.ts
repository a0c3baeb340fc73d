import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { ConfigValues } from '../../src/values/config-keys.js';

/** A limit's window and its count in the config (read at each request: `berth config set` counts at once). */
interface Window {
  seconds: number;
  points: (cfg: ConfigValues) => number;
}

/**
 * One rate limit whose count follows the config: its limiter is made again (the counts start
 * over) when the count changes. Kept in memory: a daemon restart starts every count over.
 */
class FollowingLimit {
  private limiter: RateLimiterMemory | null = null;
  private points = 0;

  constructor(private readonly window: Window) {}

  private current(cfg: ConfigValues): RateLimiterMemory {
    const points = this.window.points(cfg);
    if (!this.limiter || points !== this.points) {
      this.points = points;
      this.limiter = new RateLimiterMemory({ points, duration: this.window.seconds });
    }
    return this.limiter;
  }

  /** Counts one for `key`: null within the limit, else the seconds until it may try again. */
  async take(key: string, cfg: ConfigValues): Promise<number | null> {
    try {
      await this.current(cfg).consume(key);
      return null;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw res;
    }
  }

  /** Without counting: the seconds `key` must still wait, or null when it has some left. */
  async waiting(key: string, cfg: ConfigValues): Promise<number | null> {
    const limiter = this.current(cfg);
    const res = await limiter.get(key);
    if (!res || res.consumedPoints < this.points) return null;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }
}

/**
 * The HTTP API's rate limits: requests per token a minute (`web.api-rate`), deploys per user an
 * hour (`web.api-deploy-rate`, all their tokens together), and requests without a valid token per
 * source address a minute (`web.api-auth-failures`; a source past it is refused before its token
 * is even looked at, so it cannot go on guessing).
 */
export class ApiLimits {
  readonly requests = new FollowingLimit({ seconds: 60, points: (cfg) => cfg['web.api-rate'] });
  readonly deploys = new FollowingLimit({ seconds: 3600, points: (cfg) => cfg['web.api-deploy-rate'] });
  readonly authFailures = new FollowingLimit({ seconds: 60, points: (cfg) => cfg['web.api-auth-failures'] });
}
