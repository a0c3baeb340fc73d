import { type Composer, InlineKeyboard } from 'grammy';
import { BerthError } from '../../src/errors.js';
import { sshConnectInfo } from '../../src/services/access/ssh-access.js';
import { addKeys, listKeys, removeKey } from '../../src/services/people/ssh-keys.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { argsOf, type BotContext, type BotDeps, loginOf } from './bot-context.js';
import { code, escapeHtml } from './replies.js';

export function keyCommands(bot: Composer<BotContext>, deps: BotDeps): void {
  const { store } = deps.ctx;

  bot.command('ssh', async (ctx) => {
    const login = loginOf(ctx);
    const keys = await listKeys(store, login);
    if (!effectiveConfig(ctx.berth.state.config)['ssh.enabled']) {
      await ctx.reply('SSH logins are turned off on this host. Use /exec, /upload and /download meanwhile.');
      return;
    }
    const info = await sshConnectInfo(deps.ctx, login);
    const lines =
      info.vms.length > 1
        ? [`Log in to one of your VMs with:\n${info.vms.map((v) => code(v.command)).join('\n')}`]
        : [`Log in with:\n${code(info.command)}`];
    if (info.hostKeyFingerprint) lines.push(`The server's host key: ${code(info.hostKeyFingerprint)}`);
    lines.push(
      keys.length === 0
        ? 'You have no SSH key yet: send /sshkey followed by your public key (the line in ~/.ssh/id_ed25519.pub).'
        : `Your keys:\n${keys.map((k) => `• ${code(k.fingerprint)} ${escapeHtml(k.comment)}`).join('\n')}`,
    );
    await ctx.reply(lines.join('\n\n'), { parse_mode: 'HTML' });
  });

  bot.command('sshkey', async (ctx) => {
    const text = argsOf(ctx);
    if (!text)
      throw new BerthError('USAGE', 'Give your public key after the command.', 'For example: /sshkey ssh-ed25519 AAAA… you@laptop');
    const added = await addKeys(store, loginOf(ctx), text);
    await ctx.reply(`🔑 Added ${added.map((k) => code(k.fingerprint)).join(', ')}.`, { parse_mode: 'HTML' });
  });

  bot.command('sshkeys', async (ctx) => {
    const keys = await listKeys(store, loginOf(ctx));
    if (keys.length === 0) {
      await ctx.reply('You have no SSH keys. Add one with /sshkey followed by your public key.');
      return;
    }
    const keyboard = new InlineKeyboard();
    for (const k of keys) keyboard.text(`Remove ${k.fingerprint.slice(7, 19)}… ${k.comment}`.slice(0, 60), `rmkey:${k.fingerprint}`).row();
    const list = keys.map((k) => `• ${code(k.fingerprint)} ${escapeHtml(k.type)} ${escapeHtml(k.comment)}`).join('\n');
    await ctx.reply(`Your SSH keys:\n${list}`, { parse_mode: 'HTML', reply_markup: keyboard });
  });

  bot.callbackQuery(/^rmkey:(SHA256:[A-Za-z0-9+/]{43})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const removed = await removeKey(store, loginOf(ctx), ctx.match[1] ?? '', `user ${loginOf(ctx)} (bot)`);
    await ctx.editMessageText(`Removed ${code(removed.fingerprint)}.`, { parse_mode: 'HTML' });
  });
}
