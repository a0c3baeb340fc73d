import { RateLimiterMemory } from 'rate-limiter-flexible';

/**
 * Failed logins per source address: more than `perMinute` in a minute bans the address
 * for `banSeconds`. Limits follow config changes (a new limiter when they change).
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

  /** Counts one failure; true when the address is now banned. */
  async fail(address: string, perMinute: number, banSeconds: number): Promise<boolean> {
    try {
      await this.current(perMinute, banSeconds).consume(address);
      return false;
    } catch {
      return true;
    }
  }

  /** Whether the address is banned now. */
  async banned(address: string, perMinute: number, banSeconds: number): Promise<boolean> {
    const res = await this.current(perMinute, banSeconds).get(address);
    return res !== null && res.consumedPoints > perMinute && res.msBeforeNext > 0;
  }
}
