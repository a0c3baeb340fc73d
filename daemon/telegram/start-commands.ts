import { type Api, type Composer, InlineKeyboard } from 'grammy';
import type { Logger } from 'pino';
import { adminIds, requestAccess } from '../../src/services/people/telegram-users.js';
import type { State, User } from '../../src/state/schema.js';
import { planSummary, planView } from '../../src/views/plan-view.js';
import type { BotContext, BotDeps } from './bot-context.js';
import { commandsFor } from './command-list.js';
import { code, escapeHtml } from './replies.js';

export function helpText(ctx: BotContext): string {
  const { identity } = ctx.berth;
  const audience = identity.admin ? 'admin' : identity.user?.status === 'allowed' ? 'user' : 'pending';
  const lines = commandsFor(audience).map((c) => `/${c.command}${c.args ? ` ${escapeHtml(c.args)}` : ''} — ${escapeHtml(c.description)}`);
  return `<b>What you can do</b>\n${lines.join('\n')}`;
}

/** The inline keyboard admins answer an access request with: approve on a plan, or reject. */
export function approvalKeyboard(state: State, telegramId: number): InlineKeyboard {
  const keyboard = new InlineKeyboard();
  for (const plan of state.plans.slice(0, 20)) keyboard.text(`✅ ${plan.name}`, `ap:${telegramId}:${plan.name}`).row();
  return keyboard.text('❌ Reject', `rj:${telegramId}`);
}

export async function announceRequest(api: Api, state: State, user: User, username: string | undefined, log: Logger): Promise<void> {
  const who = username ? `@${escapeHtml(username)}` : 'someone without a username';
  const text = `🙋 Access request from ${who} (id ${code(String(user.telegramId))}), login ${code(user.login)}.\nApprove on a plan, or reject:`;
  for (const id of adminIds(state)) {
    await api
      .sendMessage(id, text, { parse_mode: 'HTML', reply_markup: approvalKeyboard(state, user.telegramId as number) })
      .catch((err: Error) => log.warn({ admin: id, err: err.message }, 'could not tell an admin about an access request'));
  }
}

export function startCommands(bot: Composer<BotContext>, deps: BotDeps): void {
  bot.command('start', async (ctx) => {
    const from = ctx.from;
    if (!from) return;
    const request = await requestAccess(deps.ctx.store, from.id, from.username);
    if (request.outcome === 'full') {
      deps.turnedAway?.note(from.id);
      await ctx.reply('Sorry, the waiting list for access is full right now. Please try /start again later.');
      return;
    }
    if (request.outcome === 'created') {
      await ctx.reply('Hello! Your request for access was sent to the admins. You will get a message when it is decided.');
      await announceRequest(ctx.api, await deps.ctx.store.read(), request.user, from.username, deps.log);
      return;
    }
    if (request.outcome === 'pending') {
      await ctx.reply('Your request for access is waiting for an admin.');
      return;
    }
    if (request.outcome === 'refused') {
      await ctx.reply('Sorry, you do not have access to this service.');
      return;
    }
    ctx.berth.state = await deps.ctx.store.snapshot();
    await ctx.reply(`Welcome, ${escapeHtml(request.user.login)}!\n\n${helpText(ctx)}`, { parse_mode: 'HTML' });
  });

  bot.command('help', (ctx) => ctx.reply(helpText(ctx), { parse_mode: 'HTML' }));

  bot.command('myid', async (ctx) => {
    const user = ctx.berth.identity.user;
    const lines = [`Telegram id: ${code(String(ctx.from?.id))}`];
    if (user) lines.push(`Login: ${code(user.login)} (${user.status}, plan ${escapeHtml(user.plan)})`);
    if (ctx.berth.identity.admin) lines.push('You are an admin.');
    await ctx.reply(lines.join('\n'), { parse_mode: 'HTML' });
  });

  bot.command('plans', async (ctx) => {
    const { state, identity } = ctx.berth;
    const mine = identity.user?.plan;
    const lines = state.plans.map(
      (p) => `${p.name === mine ? '➡️' : '•'} <b>${escapeHtml(p.name)}</b>: ${escapeHtml(planSummary(planView(p, state)))}`,
    );
    await ctx.reply(`${lines.join('\n')}${mine ? `\n\nYour plan: <b>${escapeHtml(mine)}</b>` : ''}`, { parse_mode: 'HTML' });
  });
}
