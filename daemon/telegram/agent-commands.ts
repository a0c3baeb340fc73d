import { type Api, type Composer, InputFile } from 'grammy';
import { type AgentEvent, toolLine } from '../../src/domain/agent-stream.js';
import { BerthError } from '../../src/errors.js';
import {
  type AgentRunResult,
  type AgentRuns,
  planAgentPermission,
  type RunObserver,
  workdirInHome,
} from '../../src/services/agents/agent-runs.js';
import { setUserSecret } from '../../src/services/secrets/user-secrets.js';
import { uploadToVm } from '../../src/services/vm/vm-files.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { formatDuration } from '../../src/values/durations.js';
import { argsOf, type BotContext, type BotDeps, loginOf } from './bot-context.js';
import { MESSAGE_LIMIT, splitMessage } from './replies.js';
import { pickVm } from './vm-commands.js';

/** At most one edit of a streamed reply a second (Telegram allows about one a second per chat). */
const EDIT_INTERVAL_MS = 1100;
/** Tool lines kept in a streamed reply. */
const TOOL_LINES = 12;
/** An answer longer than this many messages comes as a file instead. */
const MAX_PARTS = 3;

/**
 * One reply that follows a run: sent when the run starts, edited as text and tool uses arrive
 * (at most once per EDIT_INTERVAL_MS), and edited a last time with the answer in full — split
 * into more messages, or attached as a file, when it does not fit.
 */
class LiveReply implements RunObserver {
  private messageId: Promise<number | null> | null = null;
  private tools: string[] = [];
  private text = '';
  private title = '🤖 Agent';
  private lastEdit = 0;
  private timer: NodeJS.Timeout | null = null;
  private shown = '';
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly api: Api,
    private readonly chat: number,
    private readonly onError: (err: Error) => void,
    private readonly timeoutSeconds: number,
  ) {}

  started(info: Parameters<NonNullable<RunObserver['started']>>[0]): void {
    this.title = `🤖 ${info.agent.title}${info.resumed ? '' : ' (new conversation)'}${info.startedVm ? ` · started your VM ${info.vm}` : ''}`;
    this.messageId = this.api
      .sendMessage(this.chat, `${this.title}\n⏳ Working…`)
      .then((m) => m.message_id)
      .catch((err: Error) => {
        this.onError(err);
        return null;
      });
    this.lastEdit = Date.now();
  }

  event(event: AgentEvent): void {
    if (event.kind === 'tool') this.tools = [...this.tools, toolLine(event.tool, event.detail)].slice(-TOOL_LINES);
    else if (event.kind === 'text') this.text = event.text;
    else return;
    this.schedule();
  }

  private body(final: boolean): string {
    const tools = this.tools.join('\n');
    const text = this.text.length > 2500 ? `…${this.text.slice(-2500)}` : this.text;
    return [this.title, tools, text, final ? '' : '⏳ Working…'].filter(Boolean).join('\n\n').slice(0, MESSAGE_LIMIT);
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastEdit + EDIT_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.enqueue(() => this.edit(this.body(false)));
    }, wait);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work).catch((err: Error) => this.onError(err));
    return this.chain;
  }

  private async edit(text: string): Promise<void> {
    const id = await this.messageId;
    if (id === null || id === undefined || text === this.shown) return;
    const wait = this.lastEdit + EDIT_INTERVAL_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastEdit = Date.now();
    this.shown = text;
    await this.api.editMessageText(this.chat, id, text).catch((err: Error) => {
      if (!/not modified/i.test(err.message)) throw err;
    });
  }

  finished(result: AgentRunResult): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.enqueue(async () => {
      if (!this.messageId) {
        // It never started (what was queued could not run): say why.
        await this.api.sendMessage(this.chat, `⚠️ ${result.error ?? 'The agent could not run.'}`);
        return;
      }
      const tools = this.tools.join('\n');
      const tail =
        result.outcome === 'stopped'
          ? '⏹ Stopped.'
          : result.outcome === 'timeout'
            ? `⏱ Stopped: it ran longer than agent.timeout (${formatDuration(this.timeoutSeconds)}).`
            : result.outcome === 'error'
              ? `⚠️ The agent failed: ${result.error ?? 'no answer'}`
              : '';
      const answer = result.answer.trim();
      const whole = [this.title, tools, answer, tail].filter(Boolean).join('\n\n');
      if (whole.length <= MESSAGE_LIMIT) {
        await this.edit(whole);
        return;
      }
      await this.edit([this.title, tools, '📝 The answer follows.', tail].filter(Boolean).join('\n\n').slice(0, MESSAGE_LIMIT));
      const parts = splitMessage(answer);
      if (parts.length <= MAX_PARTS) {
        for (const part of parts) await this.api.sendMessage(this.chat, part);
      } else {
        await this.api.sendDocument(this.chat, new InputFile(Buffer.from(answer, 'utf8'), 'answer.md'), {
          caption: `The whole answer (${answer.length} characters).`,
        });
      }
    });
  }
}

function since(iso: string): string {
  return formatDuration(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));
}

export function agentCommands(bot: Composer<BotContext>, deps: BotDeps, runs: AgentRuns): void {
  const observer = (ctx: BotContext) =>
    new LiveReply(
      ctx.api,
      ctx.chat?.id as number,
      (err) => deps.log.warn({ err: err.message }, 'an agent reply could not be sent'),
      effectiveConfig(ctx.berth.state.config)['agent.timeout'],
    );

  const ask = async (ctx: BotContext, prompt: string) => {
    const login = loginOf(ctx);
    const how = await runs.submit(login, prompt, ctx.berth.actor, observer(ctx));
    if (how === 'queued')
      await ctx.reply('⏳ The agent is still working: this message is next, once the current run ends (/stop ends it).');
  };

  bot.command('setkey', async (ctx) => {
    // The key must not stay in the chat: the message goes first, whatever follows.
    const deleted = await ctx.deleteMessage().then(
      () => true,
      (err: Error) => {
        deps.log.warn({ err: err.message }, 'could not delete a /setkey message');
        return false;
      },
    );
    const login = loginOf(ctx);
    const [name = '', value = '', ...more] = argsOf(ctx).split(/\s+/).filter(Boolean);
    if (!name || !value || more.length > 0) {
      throw new BerthError(
        'USAGE',
        'Send the name and the key: /setkey anthropic YOUR_KEY',
        deleted ? 'Your message was deleted.' : 'Delete your message: it could not be deleted for you.',
      );
    }
    const saved = await setUserSecret(deps.ctx.store, login, name, value);
    await ctx.reply(
      `🔑 Your ${saved.name} key is saved, encrypted; only your agent's runs get it. ${deleted ? 'I deleted your message.' : 'Delete your message: I could not.'}`,
    );
  });

  bot.command('new', async (ctx) => {
    const login = loginOf(ctx);
    const old = await runs.newConversation(login);
    const running = runs.current(login) ? ' The run in progress goes on (/stop ends it).' : '';
    await ctx.reply(`🆕 ${old ? 'Conversation closed.' : 'No conversation was open.'} Your next message starts a new one.${running}`);
  });

  // /stop ends a run in progress; without one it is the VM's /stop (vm-commands.ts).
  bot.command('stop', async (ctx, next) => {
    const login = ctx.berth.identity.user?.status === 'allowed' ? ctx.berth.identity.user.login : undefined;
    if (!login || !runs.current(login) || argsOf(ctx)) return next();
    runs.stop(login);
    await ctx.reply('⏹ Stopping the agent (interrupted; anything it left running is ended).');
  });

  bot.command('agent', async (ctx) => {
    const login = loginOf(ctx);
    const state = ctx.berth.state;
    const user = state.users.find((u) => u.login === login);
    const permission = planAgentPermission(state, login);
    const current = runs.current(login);
    const last = runs.last(login);
    const conv = user?.conversation;
    const lines = [
      `🤖 Agent permission on your plan: ${permission}${permission === 'off' ? ' (no agent)' : ''}`,
      `Key: ${(user?.secrets ?? []).length ? (user?.secrets ?? []).map((s) => `${s.name} (set ${s.setAt.slice(0, 10)})`).join(', ') : 'none — /setkey anthropic KEY'}`,
      conv
        ? `Conversation: ${conv.agent} in ${conv.vm}, since ${since(conv.startedAt)} ago (last ${since(conv.updatedAt)} ago). /new starts another.`
        : 'Conversation: none; your next message starts one.',
      current
        ? `Running now: ${current.agent} in ${current.vm} for ${since(new Date(current.startedAt).toISOString())}${runs.isQueued(login) ? ', one message waiting' : ''}. /stop ends it.`
        : 'Running now: nothing.',
      last
        ? `Last run: ${last.outcome}, ${Math.round(last.durationMs / 100) / 10} s, ${since(last.startedAt)} ago${last.inputTokens !== undefined ? `, ${last.inputTokens} in / ${last.outputTokens ?? 0} out tokens` : ''}.`
        : 'Last run: none since the daemon started.',
    ];
    await ctx.reply(lines.join('\n'));
  });

  // Files sent while a conversation is open go into the work directory, named in the next prompt.
  bot.on(['message:document', 'message:photo'], async (ctx, next) => {
    const login = ctx.berth.identity.user?.status === 'allowed' ? ctx.berth.identity.user.login : undefined;
    const user = ctx.berth.state.users.find((u) => u.login === login);
    if (!login || (!user?.conversation && !runs.current(login)) || ctx.msg.caption?.startsWith('/')) return next();
    const document = ctx.msg.document;
    const photo = ctx.msg.photo?.at(-1);
    const fileId = document?.file_id ?? photo?.file_id;
    if (!fileId) return next();
    const size = document?.file_size ?? photo?.file_size;
    if (size !== undefined && size > deps.maxFetchBytes) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        'That file is larger than the Bot API lets bots fetch.',
        'Use scp or sftp through the SSH gateway (/ssh).',
      );
    }
    const file = await ctx.api.getFile(fileId);
    if (!file.file_path) throw new BerthError('FILE_UNAVAILABLE', 'Telegram did not make that file available.', 'Send it again.');
    const response = await fetch(`${deps.apiRoot}/file/bot${deps.token}/${file.file_path}`);
    if (!response.ok)
      throw new BerthError('FILE_UNAVAILABLE', `The Bot API server answered ${response.status} for that file.`, 'Send it again.');
    const data = Buffer.from(await response.arrayBuffer());
    const name = document?.file_name ?? `photo-${ctx.msg.message_id}.jpg`;
    const ref = pickVm(ctx.berth.state, login, user?.conversation?.vm);
    const workdir = workdirInHome(effectiveConfig(ctx.berth.state.config)['agent.workdir']);
    const saved = await uploadToVm(deps.ctx, ref, { dir: workdir, name, data }, ctx.berth.actor);
    runs.addFile(login, saved.path);
    const caption = ctx.msg.caption?.trim();
    if (caption && !caption.startsWith('/')) {
      await ctx.reply(`📎 Saved ${saved.path} for the agent.`);
      await ask(ctx, caption);
      return;
    }
    await ctx.reply(`📎 Saved ${saved.path}; the agent hears of it with your next message.`);
  });

  // A plain message (not a command) is a prompt for the agent.
  bot.on('message:text', async (ctx, next) => {
    const text = ctx.msg.text;
    if (text.startsWith('/')) return next();
    await ask(ctx, text);
  });
}
