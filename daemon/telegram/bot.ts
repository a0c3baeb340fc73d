import { createHmac } from 'node:crypto';
import { autoRetry } from '@grammyjs/auto-retry';
import { type RunnerHandle, run, sequentialize } from '@grammyjs/runner';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Api, Bot, type Context, GrammyError, InputFile, webhookCallback } from 'grammy';
import type { Message as TgMessage } from 'grammy/types';
import type { Logger } from 'pino';
import { BerthError } from '../../src/errors.js';
import { adminAccounts } from '../../src/services/people/chat-users.js';
import type { TokenSource } from '../../src/services/secrets/telegram-token.js';
import { OFFICIAL_API_ROOT, telegramApiRoot } from '../../src/services/setup/telegram-setup.js';
import { listenParts } from '../../src/values/listen-address.js';
import type { BotOptions } from '../chat/bot-options.js';
import { argsFromText, type CommandSpec, findCommand } from '../chat/commands.js';
import type { ChatCore, TurnBase } from '../chat/core.js';
import { fetchCapped } from '../chat/fetch-capped.js';
import type { Message } from '../chat/message.js';
import type { FrontEndInfo, Incoming, Posted, Reach } from '../chat/turn.js';
import type { FrontEndCounters } from '../metrics.js';
import { watchDir } from '../state-watch.js';
import { publishMenus } from './commands-menu.js';
import { jsonFetch } from './json-fetch.js';
import { keyboard, telegramInfo, telegramText } from './render.js';

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
  status(): TelegramStatus;
  stop(): Promise<void>;
}

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** The webhook's secret: derived from the token, so nothing more is stored and it changes with it. */
export function webhookSecret(token: string): string {
  return createHmac('sha256', token).update('berth telegram webhook').digest('hex');
}

/** Sends one of the core's messages to a chat: its text (HTML), its buttons, then its file. */
async function send(api: Api, chat: number, message: Message | string, counters?: FrontEndCounters): Promise<Posted> {
  const m: Message = typeof message === 'string' ? { text: message } : message;
  const { text, parse_mode } = telegramText(m.text);
  let posted: Posted = { edit: async () => undefined, remove: async () => undefined };
  if (text.trim() || !m.file) {
    const sent = await api.sendMessage(chat, text, {
      ...(parse_mode ? { parse_mode } : {}),
      ...(m.buttons ? { reply_markup: keyboard(m) } : {}),
      ...(m.noPreview ? { link_preview_options: { is_disabled: true } } : {}),
    });
    counters?.sent.inc();
    posted = postedOf(api, chat, sent.message_id, counters);
  }
  if (m.file) {
    const sent = await api.sendDocument(chat, new InputFile(m.file.data, m.file.name), m.file.caption ? { caption: m.file.caption } : {});
    counters?.sent.inc();
    if (!text.trim()) posted = postedOf(api, chat, sent.message_id, counters);
  }
  return posted;
}

function postedOf(api: Api, chat: number, id: number, counters?: FrontEndCounters): Posted {
  return {
    edit: async (message) => {
      const m: Message = typeof message === 'string' ? { text: message } : message;
      const { text, parse_mode } = telegramText(m.text);
      await api.editMessageText(chat, id, text, {
        ...(parse_mode ? { parse_mode } : {}),
        ...(m.buttons ? { reply_markup: keyboard(m) } : {}),
        ...(m.noPreview ? { link_preview_options: { is_disabled: true } } : {}),
      });
      counters?.edits.inc();
    },
    remove: async () => {
      await api.deleteMessage(chat, id);
    },
  };
}

export interface TelegramDeps {
  core: ChatCore;
  log: Logger;
  apiRoot: string;
  token: string;
  info: FrontEndInfo;
  counters?: FrontEndCounters;
}

/** A file users sent the bot, fetched from the Bot API server in use when the core asks for it. */
function incoming(ctx: Context, deps: TelegramDeps, msg: TgMessage): Incoming | undefined {
  const document = msg.document;
  const photo = msg.photo?.at(-1);
  const fileId = document?.file_id ?? photo?.file_id;
  if (!fileId) return undefined;
  return {
    name: document?.file_name ?? (photo ? `photo-${msg.message_id}.jpg` : 'upload.bin'),
    size: document?.file_size ?? photo?.file_size,
    fetch: async () => {
      const tooLarge = () =>
        new BerthError(
          'FILE_TOO_LARGE',
          `That file is larger than the Bot API lets bots fetch (${Math.floor(deps.info.maxFetchBytes / 1048576)} MB).`,
          'Use scp or sftp through the SSH gateway (/ssh).',
        );
      const file = await ctx.api.getFile(fileId).catch((err: Error) => {
        if (/too big/i.test(err.message)) throw tooLarge();
        throw err;
      });
      if (!file.file_path) throw new BerthError('FILE_UNAVAILABLE', 'Telegram did not make that file available.', 'Send it again.');
      return fetchCapped(`${deps.apiRoot}/file/bot${deps.token}/${file.file_path}`, deps.info.maxFetchBytes, {
        service: 'The Bot API server',
        tooLarge,
      });
    },
  };
}

/** Whether the command takes a file (an attachment argument): sent as a document's caption, or in reply to one. */
const takesFile = (spec: CommandSpec | undefined) => Boolean(spec?.args?.some((a) => a.type === 'attachment'));

/** `/name@bot rest`: the command and the rest, or null. */
export function parseCommand(text: string): { name: string; rest: string } | null {
  const m = text.match(/^\/([A-Za-z0-9_]+)(?:@[A-Za-z0-9_]+)?(?:\s+([\s\S]*))?$/);
  return m ? { name: (m[1] ?? '').toLowerCase(), rest: m[2] ?? '' } : null;
}

/** Turns grammY's updates into the core's turns; everything else is the core's. */
function build(bot: Bot, deps: TelegramDeps, seen: () => void): void {
  const { core } = deps;
  bot.use(sequentialize((ctx) => String(ctx.from?.id ?? ctx.chat?.id ?? '')));
  bot.use(async (ctx, next) => {
    seen();
    deps.counters?.updates.inc();
    // Private chats only: in a group, one member's replies would be everyone's.
    if (!ctx.from || ctx.from.is_bot || (ctx.chat && ctx.chat.type !== 'private')) return;
    await next();
  });

  const base = (ctx: Context, extra: Partial<TurnBase> = {}): TurnBase => {
    const from = ctx.from as NonNullable<Context['from']>;
    const chat = from.id;
    return {
      frontEnd: deps.info,
      account: { frontEnd: 'telegram', id: String(from.id), ...(from.username ? { username: from.username } : {}) },
      reply: (message) => send(ctx.api, chat, message, deps.counters),
      ...extra,
    };
  };

  bot.on('callback_query:data', async (ctx) => {
    let answered = false;
    const answer = async (text?: string) => {
      if (answered) return;
      answered = true;
      await ctx.answerCallbackQuery(text ? { text } : undefined).catch(() => undefined);
    };
    const message = ctx.callbackQuery.message;
    // A button is pressed in the chat it was sent to: the presser's own private chat.
    if (!message || message.chat.id !== ctx.from.id) {
      await answer('This button is no longer valid.');
      return;
    }
    await core.press(
      base(ctx, {
        pressed: postedOf(ctx.api, message.chat.id, message.message_id, deps.counters),
        toast: (text) => answer(text),
        acknowledge: () => answer(),
      }),
      ctx.callbackQuery.data,
    );
    await answer();
  });

  bot.on('message', async (ctx) => {
    const msg = ctx.message;
    const text = msg.text ?? '';
    const command = parseCommand(text);
    const file = incoming(ctx, deps, msg);
    if (command) {
      const spec = findCommand(command.name);
      const extra: Partial<TurnBase> = {};
      if (spec?.args?.some((a) => a.secret)) {
        // A secret must not stay in the chat: the message goes first, whatever follows.
        const deleted = await ctx.deleteMessage().then(
          () => true,
          (err: Error) => {
            deps.log.warn({ err: err.message }, `could not delete a /${command.name} message`);
            return false;
          },
        );
        extra.secretVia = deleted ? 'deleted' : 'kept';
      }
      // A command that takes a file (/upload, /deploy…) sent in reply to one takes that file.
      if (takesFile(spec)) {
        const replied = msg.reply_to_message ? incoming(ctx, deps, msg.reply_to_message as TgMessage) : undefined;
        if (replied) extra.attachment = replied;
      }
      await core.command(base(ctx, { ...extra, args: spec ? argsFromText(spec, command.rest) : {} }), command.name);
      return;
    }
    // grammY does not match commands in captions: a document captioned "/upload dir" comes here.
    const caption = msg.caption ?? '';
    const captioned = parseCommand(caption);
    const captionSpec = captioned ? findCommand(captioned.name) : undefined;
    if (file && captioned && captionSpec && takesFile(captionSpec)) {
      await core.command(base(ctx, { attachment: file, args: argsFromText(captionSpec, captioned.rest) }), captioned.name);
      return;
    }
    if (file && !caption.startsWith('/')) {
      await core.message(base(ctx), caption, file);
      return;
    }
    await core.message(base(ctx), msg.text && !text.startsWith('/') ? text : '');
  });
}

/** Keeps the admins' command menus current as roles change (by bot or CLI). */
function followAdmins(core: ChatCore, log: Logger, bot: Bot, home: string) {
  let published: number[] | null = null;
  return watchDir(
    home,
    (file) => file === 'state.json',
    async () => {
      const admins = adminAccounts(await core.deps.ctx.store.read(), 'telegram').map(Number);
      if (published && admins.join() === published.join()) return;
      await publishMenus(bot.api, admins, published ?? [], (id, err) =>
        log.warn({ chat: id, err: err.message }, 'could not set the admin command menu'),
      );
      published = admins;
    },
    (err) => log.warn({ err: String(err) }, 'could not publish the command menus'),
  );
}

export async function startTelegram(options: BotOptions & { home: string }): Promise<TelegramBot> {
  const { core, log, token, config } = options;
  const apiRoot = telegramApiRoot(config);
  // Long polls last 30 s; anything slower than a minute is a Bot API server that is not answering.
  const bot = new Bot(token, { client: { apiRoot, timeoutSeconds: 60, fetch: jsonFetch() } });
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
  const deps: TelegramDeps = { core, log, apiRoot, token, info: telegramInfo(apiRoot === OFFICIAL_API_ROOT), counters: options.counters };
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
  const reach: Reach = {
    info: deps.info,
    send: async (id, message) => {
      try {
        await send(bot.api, Number(id), message, deps.counters);
        return 'sent';
      } catch (err) {
        if (err instanceof GrammyError && err.error_code === 403) return 'blocked';
        throw err;
      }
    },
  };
  const detach = core.attach(reach);
  const menus = followAdmins(core, log, bot, options.home);
  log.info({ username: bot.botInfo.username, mode, apiRoot }, 'telegram bot started');

  return {
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
      detach();
      menus.close();
      if (runner?.isRunning()) await runner.stop();
      await webhook?.close();
    },
  };
}
