import ipaddr from 'ipaddr.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/**
 * The address a limit counts against: IPv4 as is (also when IPv4-mapped), IPv6 by its /64
 * (one host usually holds a whole /64, so single addresses would be free to rotate).
 */
export function sourceKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

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
 * Connections that have not logged in yet, per source and overall (sshd's MaxStartups):
 * beyond either cap a new connection is dropped before any work is done for it.
 */
export class PreAuthSlots {
  private readonly bySource = new Map<string, number>();
  private total = 0;

  constructor(
    readonly perSource: number,
    readonly overall: number,
  ) {}

  /** Takes a slot; null when a cap is reached. The release it returns is idempotent. */
  take(source: string): (() => void) | null {
    const key = sourceKey(source);
    const n = this.bySource.get(key) ?? 0;
    if (n >= this.perSource || this.total >= this.overall) return null;
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
