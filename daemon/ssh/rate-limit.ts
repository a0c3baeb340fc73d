import { RateLimiterMemory } from 'rate-limiter-flexible';
import { sourceKey } from '../../src/values/source-key.js';

/**
 * Failed login attempts per source (see `sourceKey`): more than `perMinute` in a minute bans
 * it for `banSeconds`. Limits follow config changes (a new limiter when they change).
 */
export class AuthRateLimit {
  private limiter: RateLimiterMemory | null = null;
  private shape = '';

  private current(perMinute: number, banSeconds: number): RateLimiterMemory {
    const shape = `${perMinute}/${banSeconds}`;
    if (!this.limiter || shape !== this.shape) {
      this.limiter = new RateLimiterMemory({ points: perMinute, duration: 60, blockDuration: banSeconds });
      this.shape = shape;
    }
    return this.limiter;
  }

  /** Counts one failed attempt; true when the source is now banned. */
  async fail(source: string, perMinute: number, banSeconds: number): Promise<boolean> {
    try {
      await this.current(perMinute, banSeconds).consume(sourceKey(source));
      return false;
    } catch {
      return true;
    }
  }

  /** Whether the source is banned now. */
  async banned(source: string, perMinute: number, banSeconds: number): Promise<boolean> {
    const res = await this.current(perMinute, banSeconds).get(sourceKey(source));
    return res !== null && res.consumedPoints > perMinute && res.msBeforeNext > 0;
  }
}

/**
 * Channels a user opens per minute, all their connections together (each costs a docker exec
 * or a connection to their VM). Follows config changes.
 */
export class ChannelRate {
  private limiter: RateLimiterMemory | null = null;
  private perMinute = 0;

  /** True when `user` may open one more channel now. */
  async take(user: string, perMinute: number): Promise<boolean> {
    if (!this.limiter || perMinute !== this.perMinute) {
      this.limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
      this.perMinute = perMinute;
    }
    return this.limiter.consume(user).then(
      () => true,
      () => false,
    );
  }
}
