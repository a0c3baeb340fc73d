import { RateLimiterMemory } from 'rate-limiter-flexible';
import { chatVerdict } from '../../src/domain/chat-admission.js';
import { type ChatAccount, chatActor, identifyAccount, setAccountBlocked } from '../../src/services/people/chat-users.js';
import type { StateStore } from '../../src/state/store.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import type { Sender } from './turn.js';

const REFUSAL_COOLDOWN_MS = 60 * 60 * 1000;
const WINDOW_S = 60;
/** Accounts remembered for the refusal cooldown before old entries are swept. */
const SWEEP_AT = 1000;

export const REFUSAL = {
  stranger: 'Hello! This is a private service. Send /start to ask for access.',
  refused: 'Sorry, you do not have access to this service.',
  waiting: 'Your request for access is waiting for an admin. You will get a message when it is decided.',
  slowDown: (perMinute: number) => `Slow down: at most ${perMinute} messages a minute. Try again in a little while.`,
} as const;

export type Admission =
  | { pass: true; sender: Sender }
  /** Told `text` (null: nothing, the sender was told recently or is over the limit). */
  | { pass: false; text: string | null };

/**
 * Who may do what, for every front-end: strangers (except their /start and /link) and refused
 * users get one polite refusal, then silence for an hour; pending users may only wait. What
 * passes is rate-limited per account: every turn counts (commands, button presses, files),
 * told once a minute ("slow down"), the rest dropped without a word. Maps are bounded.
 */
export class Gate {
  private readonly refusedAt = new Map<string, number>();
  private limiter: { perMinute: number; points: RateLimiterMemory; told: RateLimiterMemory } | null = null;

  /** One gate per front-end: each has its own rate limit (`telegram.rate-limit`, `discord.rate-limit`). */
  constructor(private readonly store: StateStore) {}

  /** `command`: the command's name, or null for a button press, a file or a plain message. */
  async admit(account: ChatAccount, command: string | null): Promise<Admission> {
    const state = await this.store.snapshot();
    const identity = identifyAccount(state, account);
    const sender: Sender = { state, identity, actor: chatActor(identity, account.frontEnd) };
    const verdict = chatVerdict({ status: identity.user?.status, admin: identity.admin }, command);
    const key = `${account.frontEnd}:${account.id}`;
    if (verdict === 'stranger' || verdict === 'refused') {
      return { pass: false, text: this.refuseOnce(key, verdict === 'stranger' ? REFUSAL.stranger : REFUSAL.refused) };
    }
    const perMinute = effectiveConfig(state.config)[account.frontEnd === 'discord' ? 'discord.rate-limit' : 'telegram.rate-limit'];
    const within = await this.within(key, perMinute);
    if (within !== true) return { pass: false, text: within };
    const blocked = account.frontEnd === 'discord' ? identity.user?.discordBlocked : identity.user?.telegramBlocked;
    if (blocked) await setAccountBlocked(this.store, account, false);
    return verdict === 'pass' ? { pass: true, sender } : { pass: false, text: REFUSAL.waiting };
  }

  private refuseOnce(key: string, text: string): string | null {
    if (this.refusedAt.size >= SWEEP_AT) {
      const now = Date.now();
      for (const [k, at] of this.refusedAt) if (now - at > REFUSAL_COOLDOWN_MS) this.refusedAt.delete(k);
      // Still full of recent refusals (a flood of strangers): forget the oldest half.
      if (this.refusedAt.size >= SWEEP_AT) {
        let drop = this.refusedAt.size / 2;
        for (const k of this.refusedAt.keys()) {
          if (drop-- <= 0) break;
          this.refusedAt.delete(k);
        }
      }
    }
    const last = this.refusedAt.get(key);
    if (last !== undefined && Date.now() - last < REFUSAL_COOLDOWN_MS) return null;
    this.refusedAt.set(key, Date.now());
    return text;
  }

  /** true, or what to tell (once a minute) or null (dropped silently). */
  private async within(key: string, perMinute: number): Promise<true | string | null> {
    if (perMinute === 0) return true;
    if (this.limiter?.perMinute !== perMinute) {
      this.limiter = {
        perMinute,
        points: new RateLimiterMemory({ points: perMinute, duration: WINDOW_S }),
        told: new RateLimiterMemory({ points: 1, duration: WINDOW_S }),
      };
    }
    const { points, told } = this.limiter;
    const ok = await points.consume(key).then(
      () => true,
      () => false,
    );
    if (ok) return true;
    const first = await told.consume(key).then(
      () => true,
      () => false,
    );
    return first ? REFUSAL.slowDown(perMinute) : null;
  }
}
