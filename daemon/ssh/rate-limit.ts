import ipaddr from 'ipaddr.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { admission, type StartupLimits, type StartupRefusal } from '../../src/domain/ssh-admission.js';

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
 * Connections that have not logged in yet, per source and overall (sshd's MaxStartups and
 * PerSourceMaxStartups), counted from the TCP accept: past a cap a new connection is dropped
 * before any work is done for it (see `admission`). The table holds at most `full` sources.
 */
export class PreAuthSlots {
  private readonly bySource = new Map<string, number>();
  private total = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** Takes a slot, or says why not. The release it returns is idempotent. */
  take(source: string, limits: StartupLimits, penalised = false): (() => void) | StartupRefusal {
    const key = sourceKey(source);
    const n = this.bySource.get(key) ?? 0;
    const decision = admission({ held: n, open: this.total, penalised }, limits, this.random());
    if (decision !== 'admit') return decision;
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
