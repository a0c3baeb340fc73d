import { createHmac } from 'node:crypto';
import { autoRetry } from '@grammyjs/auto-retry';
import { type RunnerHandle, run, sequentialize } from '@grammyjs/runner';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import Fastify, { type FastifyInstance } from 'fastify';
import { Bot, webhookCallback } from 'grammy';
import type { Logger } from 'pino';
import { BerthError } from '../../src/errors.js';
import type { Berth } from '../../src/services/core/context.js';
import type { Notifier } from '../../src/services/core/notify.js';
import { adminIds } from '../../src/services/people/telegram-users.js';
import type { TokenSource } from '../../src/services/secrets/telegram-token.js';
import { OFFICIAL_API_ROOT, telegramApiRoot } from '../../src/services/setup/telegram-setup.js';
import type { ConfigValues } from '../../src/values/config-keys.js';
import { listenParts } from '../../src/values/listen-address.js';
import { watchDir } from '../state-watch.js';
import { accessControl } from './access.js';
import { adminCommands } from './admin-commands.js';
import { agentCommands } from './agent-commands.js';
import { type BotContext, type BotDeps, NoLoginError } from './bot-context.js';
import { publishMenus } from './commands-menu.js';
import { fileCommands } from './file-commands.js';
import { jsonFetch } from './json-fetch.js';
import { keyCommands } from './key-commands.js';
import { telegramNotifier } from './notifier.js';
import { errorText } from './replies.js';
import { startCommands } from './start-commands.js';
import { TurnedAwayDigest } from './turned-away-digest.js';
import { vmCommands } from './vm-commands.js';
import { webCommands } from './web-commands.js';

export interface TelegramStatus {
  username: string;
  mode: 'polling' | 'webhook';
  apiRoot: string;
  tokenSource: TokenSource;
  lastUpdateAt: string | null;
  updates: number;
  webhookUrl?: string;
}

export interface TelegramBot {
  notifier: Notifier;
  status(): TelegramStatus;
  stop(): Promise<void>;
}

const MB = 1024 * 1024;
const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** The webhook's secret: derived from the token, so nothing more is stored and it changes with it. */
export function webhookSecret(token: string): string {
  return createHmac('sha256', token).update('berth telegram webhook').digest('hex');
}

/** Wires every handler onto the bot; handlers only parse, call src/services and reply. */
function build(bot: Bot<BotContext>, deps: BotDeps, seen: () => void): void {
  bot.use(sequentialize((ctx) => String(ctx.from?.id ?? ctx.chat?.id ?? '')));
  bot.use(async (ctx, next) => {
    seen();
    try {
      await next();
    } catch (err) {
      if (!(err instanceof BerthError) && !(err instanceof NoLoginError)) {
        deps.log.error({ err: (err as Error).message, update: ctx.update.update_id }, 'a bot handler failed');
      }
      if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => undefined);
      await ctx.reply(err instanceof NoLoginError ? err.message : errorText(err)).catch(() => undefined);
    }
  });
  bot.use(accessControl(deps));
  startCommands(bot, deps);
  adminCommands(
    bot.filter((ctx) => ctx.berth.identity.admin),
    deps,
  );
  // Before the VM commands: /stop ends a run in progress before it would stop the VM.
  if (deps.agents) agentCommands(bot, deps, deps.agents);
  vmCommands(bot, deps);
  webCommands(bot, deps);
  fileCommands(bot, deps);
  keyCommands(bot, deps);
  bot.on('callback_query', (ctx) => ctx.answerCallbackQuery({ text: 'This button is no longer valid.' }));
  bot.on('message', (ctx) => ctx.reply('I do not know that. /help lists the commands you can use.'));
}

/** Keeps the admins' command menus current as roles change (by bot or CLI). */
function followAdmins(deps: BotDeps, bot: Bot<BotContext>, home: string) {
  let published: number[] | null = null;
  return watchDir(
    home,
    (file) => file === 'state.json',
    async () => {
      const admins = adminIds(await deps.ctx.store.read());
      if (published && admins.join() === published.join()) return;
      await publishMenus(bot.api, admins, published ?? [], (id, err) =>
        deps.log.warn({ chat: id, err: err.message }, 'could not set the admin command menu'),
      );
      published = admins;
    },
    (err) => deps.log.warn({ err: String(err) }, 'could not publish the command menus'),
  );
}

export async function startTelegram(options: {
  ctx: Berth;
  home: string;
  log: Logger;
  token: string;
  tokenSource: TokenSource;
  config: ConfigValues;
  /** The web server's one-time links, for /web_terminal and /open. */
  web?: BotDeps['web'];
  /** The daemon's agent runs, for conversations from chat. */
  agents?: BotDeps['agents'];
  /** The bot stopped on its own (the token was revoked…). */
  onFailure: (message: string) => void;
}): Promise<TelegramBot> {
  const { ctx, log, token, config } = options;
  const apiRoot = telegramApiRoot(config);
  const official = apiRoot === OFFICIAL_API_ROOT;
  // Long polls last 30 s; anything slower than a minute is a Bot API server that is not answering.
  const bot = new Bot<BotContext>(token, { client: { apiRoot, timeoutSeconds: 60, fetch: jsonFetch() } });
  // Outgoing calls pass the throttler first (the last transformer installed runs first), then
  // auto-retry: sends are paced within Telegram's flood limits — about 30 a second overall
  // (spaced, so that no sliding second holds more), 1 a second per chat, 20 a minute per group —
  // and the rare 429 left is retried after its retry_after.
  bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 120 }));
  if (config['telegram.throttle']) bot.api.config.use(apiThrottler({ global: { minTime: 35 } }));
  await bot.init().catch((err: Error) => {
    throw new BerthError(
      'TELEGRAM_UNREACHABLE',
      `The Bot API at ${apiRoot} refused the bot or did not answer: ${err.message}`,
      'Check the token (berth telegram setup) and telegram.api-root.',
    );
  });
  const deps: BotDeps = {
    ctx,
    log,
    apiRoot,
    token,
    // A self-hosted server allows 2000 MB, but files pass through the daemon's memory: cap them.
    maxSendBytes: official ? 50 * MB : 200 * MB,
    maxFetchBytes: official ? 20 * MB : 200 * MB,
    ...(options.web ? { web: options.web } : {}),
    ...(options.agents ? { agents: options.agents } : {}),
    turnedAway: new TurnedAwayDigest(bot.api, ctx.store, log),
  };
  let lastUpdateAt: Date | null = null;
  let updates = 0;
  build(bot, deps, () => {
    lastUpdateAt = new Date();
    updates++;
  });
  bot.catch((err) => log.error({ err: err.message }, 'a bot update failed'));

  const mode = config['telegram.mode'];
  let runner: RunnerHandle | null = null;
  let webhook: FastifyInstance | null = null;
  if (mode === 'webhook') {
    const url = config['telegram.webhook-url'];
    if (!url)
      throw new BerthError(
        'WEBHOOK_URL_MISSING',
        'telegram.mode is webhook but telegram.webhook-url is not set.',
        'Set it: berth config set telegram.webhook-url https://bots.example.org/berth',
      );
    const secret = webhookSecret(token);
    webhook = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
    webhook.post(new URL(url).pathname || '/', webhookCallback(bot, 'fastify', { secretToken: secret, onTimeout: 'return' }));
    await webhook.listen(listenParts(config['telegram.webhook-listen']));
    await bot.api.setWebhook(url, { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] });
  } else {
    await bot.api.deleteWebhook();
    runner = run(bot, { runner: { fetch: { allowed_updates: [...ALLOWED_UPDATES] } } });
    // 401 (token revoked) and 409 (another poller on this token) end polling: the bot stops, the daemon goes on.
    runner.task()?.catch((err: Error) => {
      log.error({ err: err.message }, 'the telegram bot stopped polling');
      options.onFailure(err.message);
    });
  }
  const menus = followAdmins(deps, bot, options.home);
  log.info({ username: bot.botInfo.username, mode, apiRoot }, 'telegram bot started');

  return {
    notifier: telegramNotifier(bot.api, ctx.store, log),
    status: () => ({
      username: bot.botInfo.username,
      mode,
      apiRoot,
      tokenSource: options.tokenSource,
      lastUpdateAt: lastUpdateAt?.toISOString() ?? null,
      updates,
      ...(mode === 'webhook' ? { webhookUrl: config['telegram.webhook-url'] } : {}),
    }),
    stop: async () => {
      menus.close();
      deps.turnedAway?.stop();
      if (runner?.isRunning()) await runner.stop();
      await webhook?.close();
    },
  };
}
