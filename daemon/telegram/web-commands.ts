import type { Composer } from 'grammy';
import { BerthError } from '../../src/errors.js';
import { mintWebLink } from '../../src/services/access/web-links.js';
import { printable } from '../../src/values/names.js';
import { checkPort, type WebTarget } from '../../src/values/web-paths.js';
import { argsOf, type BotContext, type BotDeps, loginOf } from './bot-context.js';
import { escapeHtml } from './replies.js';
import { pickOwnVm } from './vm-commands.js';

/**
 * /web_terminal [vm] (alias /terminal) and /open PORT [vm]: a one-time link to the sender's own
 * VM — its terminal, or its web app on PORT — good once, within 60 s.
 */
export function webCommands(bot: Composer<BotContext>, deps: BotDeps): void {
  const link = async (ctx: BotContext, vmName: string | undefined, target: WebTarget) => {
    const web = deps.web;
    if (!web?.running()) {
      throw new BerthError('WEB_NOT_RUNNING', 'The web terminal is not available on this host now.', 'Ask the operator, or use /ssh.');
    }
    const hint = (n: string) => (target.kind === 'terminal' ? `/web_terminal ${n}` : `/open ${target.port} ${n}`);
    const vm = pickOwnVm(ctx.berth.state, loginOf(ctx), vmName, hint);
    const made = await mintWebLink(deps.ctx, web.book, vm, target);
    const what = target.kind === 'terminal' ? `the terminal of ${vm.name}` : `port ${target.port} of ${vm.name}`;
    deps.log.info({ user: vm.user, vm: made.vm, path: made.path }, 'web link given');
    // With web.apps-domain the app has an address of its own: the link ends there (after berth's login).
    const at = made.app ? `\nThe app's own address: ${escapeHtml(made.app)}` : '';
    await ctx.reply(
      `🔗 <a href="${escapeHtml(made.url)}">Open ${escapeHtml(what)}</a>\nThe link works once, within 60 seconds; it logs this browser in for a while.${at}`,
      // No preview: nothing but the person's browser opens the link.
      { parse_mode: 'HTML', link_preview_options: { is_disabled: true } },
    );
  };

  bot.command(['web_terminal', 'terminal'], async (ctx) => {
    const [name, ...rest] = argsOf(ctx).split(/\s+/).filter(Boolean);
    if (rest.length) throw new BerthError('USAGE', 'Name at most one VM.', 'For example: /web_terminal or /web_terminal web');
    await link(ctx, name, { kind: 'terminal' });
  });

  bot.command('open', async (ctx) => {
    const words = argsOf(ctx).split(/\s+/).filter(Boolean);
    // A last word `strip`: the app is sent the path without its prefix (/app/…; path apps only).
    const strip = words.length > 1 && words[words.length - 1] === 'strip';
    const [portText, name, ...rest] = strip ? words.slice(0, -1) : words;
    if (!portText || rest.length) {
      throw new BerthError(
        'USAGE',
        portText ? 'Give a port and at most one VM.' : 'Give the port your web app listens on.',
        'For example: /open 8000 (or /open 8000 web for your VM web; add strip for an app that serves at /). /status lists the ports that listen.',
      );
    }
    let port: number;
    try {
      port = checkPort(portText);
    } catch {
      throw new BerthError('USAGE', `"${printable(portText, 20)}" is not a port.`, 'Give a port from 1 to 65535, e.g. /open 8000');
    }
    await link(ctx, name, { kind: 'app', port, strip });
  });
}
