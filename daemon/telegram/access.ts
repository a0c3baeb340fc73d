import type { MiddlewareFn } from 'grammy';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { identify, setTelegramBlocked, telegramActor } from '../../src/services/people/telegram-users.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import type { BotContext, BotDeps } from './bot-context.js';

const REFUSAL_COOLDOWN_MS = 60 * 60 * 1000;
const WINDOW_S = 60;

/** The command a text message carries (`/name` at its start). Captions never count: grammY does not match them. */
export function commandOf(ctx: BotContext): string | null {
  const m = (ctx.message?.text ?? '').match(/^\/([A-Za-z0-9_]+)(?:@[A-Za-z0-9_]+)?(?:\s|$)/);
  return m?.[1]?.toLowerCase() ?? null;
}

/** Forgets entries older than `maxAgeMs` once the map grows: one sender's traffic never piles up. */
function sweep<V>(map: Map<number, V>, at: (v: V) => number, maxAgeMs: number): void {
  if (map.size < 1000) return;
  const now = Date.now();
  for (const [id, v] of map) if (now - at(v) > maxAgeMs) map.delete(id);
}

/**
 * Reads who the sender is and lets through only what they may do: strangers (except
 * their /start) and refused users get one polite refusal, then silence for an hour;
 * pending users may only wait. What passes is rate-limited per user.
 */
export function accessControl(deps: BotDeps): MiddlewareFn<BotContext> {
  const refusedAt = new Map<number, number>();

  const refuse = async (ctx: BotContext, id: number, text: string) => {
    if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
    sweep(refusedAt, (t) => t, REFUSAL_COOLDOWN_MS);
    const last = refusedAt.get(id);
    if (last !== undefined && Date.now() - last < REFUSAL_COOLDOWN_MS) return;
    refusedAt.set(id, Date.now());
    await ctx.reply(text);
  };

  /**
   * False when the sender is over their limit: every update counts (messages, button presses,
   * files), told once per minute ("slow down"); the rest are dropped without a word.
   */
  let limiter: { perMinute: number; points: RateLimiterMemory; told: RateLimiterMemory } | null = null;
  const withinLimit = async (ctx: BotContext, id: number, perMinute: number) => {
    if (perMinute === 0) return true;
    if (limiter?.perMinute !== perMinute) {
      limiter = {
        perMinute,
        points: new RateLimiterMemory({ points: perMinute, duration: WINDOW_S }),
        told: new RateLimiterMemory({ points: 1, duration: WINDOW_S }),
      };
    }
    const { points, told } = limiter;
    if (
      await points.consume(id).then(
        () => true,
        () => false,
      )
    )
      return true;
    if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
    const first = await told.consume(id).then(
      () => true,
      () => false,
    );
    if (first) await ctx.reply(`Slow down: at most ${perMinute} messages a minute. Try again in a little while.`);
    return false;
  };

  return async (ctx, next) => {
    const from = ctx.from;
    if (!from || from.is_bot || (ctx.chat && ctx.chat.type !== 'private')) return;
    const state = await deps.ctx.store.snapshot();
    const identity = identify(state, from.id);
    ctx.berth = { state, identity, actor: telegramActor(identity) };
    const status = identity.user?.status;
    const command = commandOf(ctx);

    if (!identity.admin && (status === 'rejected' || status === 'revoked' || (status === undefined && command !== 'start'))) {
      await refuse(
        ctx,
        from.id,
        status === undefined
          ? 'Hello! This is a private service. Send /start to ask for access.'
          : 'Sorry, you do not have access to this service.',
      );
      return;
    }
    if (!(await withinLimit(ctx, from.id, effectiveConfig(state.config)['telegram.rate-limit']))) return;
    if (identity.user?.telegramBlocked) await setTelegramBlocked(deps.ctx.store, from.id, false);
    if (identity.admin || status === 'allowed' || command === 'start') return next();
    // Pending.
    if (command === 'help' || command === 'myid') return next();
    if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
    await ctx.reply('Your request for access is waiting for an admin. You will get a message when it is decided.');
  };
}
