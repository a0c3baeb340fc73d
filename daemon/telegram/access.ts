import type { MiddlewareFn } from 'grammy';
import { effectiveConfig } from '../../src/domain/config-keys.js';
import { identify, setTelegramBlocked, telegramActor } from '../../src/services/telegram-users.js';
import type { BotContext, BotDeps } from './bot-context.js';
import { audienceOf } from './command-list.js';

const REFUSAL_COOLDOWN_MS = 60 * 60 * 1000;
const WINDOW_MS = 60 * 1000;

/** The command an update carries: `/name` at the start of a text or caption, or a button press. */
export function commandOf(ctx: BotContext): string | null {
  if (ctx.callbackQuery) return null;
  const text = ctx.message?.text ?? ctx.message?.caption ?? '';
  const m = text.match(/^\/([A-Za-z0-9_]+)(?:@[A-Za-z0-9_]+)?(?:\s|$)/);
  return m?.[1]?.toLowerCase() ?? null;
}

/**
 * Reads who the sender is, applies the per-user rate limit, and lets through only what
 * they may do: strangers and refused users get one polite refusal (and then silence
 * for a while), pending users may only wait.
 */
export function accessControl(deps: BotDeps): MiddlewareFn<BotContext> {
  const refusedAt = new Map<number, number>();
  const windows = new Map<number, { start: number; count: number; warned: boolean }>();

  const refuse = async (ctx: BotContext, id: number, text: string) => {
    const last = refusedAt.get(id);
    if (last !== undefined && Date.now() - last < REFUSAL_COOLDOWN_MS) return;
    refusedAt.set(id, Date.now());
    await ctx.reply(text);
  };

  return async (ctx, next) => {
    const from = ctx.from;
    if (!from || from.is_bot || (ctx.chat && ctx.chat.type !== 'private')) return;
    const state = await deps.ctx.store.read();
    const identity = identify(state, from.id);
    ctx.berth = { state, identity, actor: telegramActor(identity) };

    const perMinute = effectiveConfig(state.config)['telegram.rate-limit'];
    if (perMinute > 0) {
      const now = Date.now();
      let w = windows.get(from.id);
      if (!w || now - w.start >= WINDOW_MS) {
        w = { start: now, count: 0, warned: false };
        windows.set(from.id, w);
      }
      w.count++;
      if (w.count > perMinute) {
        if (!w.warned) {
          w.warned = true;
          await ctx.reply(`Slow down: at most ${perMinute} commands a minute. Try again in a little while.`);
        }
        if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
        return;
      }
    }
    if (identity.user?.telegramBlocked) await setTelegramBlocked(deps.ctx.store, from.id, false);

    const command = commandOf(ctx);
    if (command === 'start') return next();
    const status = identity.user?.status;
    if (identity.admin || status === 'allowed') return next();
    if (status === 'pending') {
      if (command === 'help' || command === 'myid') return next();
      await ctx.reply('Your request for access is waiting for an admin. You will get a message when it is decided.');
      return;
    }
    if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
    await refuse(
      ctx,
      from.id,
      status === undefined
        ? 'Hello! This is a private service. Send /start to ask for access.'
        : 'Sorry, you do not have access to this service.',
    );
  };
}

/** Lets an update through when the sender may use its command (admin commands need an admin). */
export function mayUse(ctx: BotContext, command: string): boolean {
  const audience = audienceOf(command);
  if (audience === 'admin') return ctx.berth.identity.admin;
  if (audience === 'user') return ctx.berth.identity.admin || ctx.berth.identity.user?.status === 'allowed';
  return true;
}
