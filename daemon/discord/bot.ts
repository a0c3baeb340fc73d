import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  type ChatInputCommandInteraction,
  Client,
  DiscordAPIError,
  type Message as DjsMessage,
  type DMChannel,
  Events,
  GatewayIntentBits,
  type Interaction,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  Options,
  Partials,
  type RepliableInteraction,
  TextInputBuilder,
  TextInputStyle,
} from 'discord.js';
import type { Logger } from 'pino';
import { BerthError } from '../../src/errors.js';
import type { ChatAccount } from '../../src/services/people/chat-users.js';
import type { TokenSource } from '../../src/services/secrets/telegram-token.js';
import { discordApiRoot } from '../../src/services/setup/discord-setup.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import type { BotOptions } from '../chat/bot-options.js';
import { COMMANDS, findCommand } from '../chat/commands.js';
import type { ChatCore, TurnBase } from '../chat/core.js';
import type { Message } from '../chat/message.js';
import { PerKey } from '../chat/per-key.js';
import type { FrontEndInfo, Incoming, Posted, Reach } from '../chat/turn.js';
import type { FrontEndCounters } from '../metrics.js';
import { buttonRows, discordInfo, MESSAGE_LIMIT, toMarkdown } from './render.js';

export interface DiscordStatus {
  username: string;
  applicationId: string;
  guilds: number;
  apiRoot: string;
  tokenSource: TokenSource;
  lastInteractionAt: string | null;
  interactions: number;
}

export interface DiscordBot {
  status(): DiscordStatus;
  stop(): Promise<void>;
}

/** How long the gateway may take to say READY. */
const LOGIN_DEADLINE_MS = 30_000;
/** How long fetching an attachment may take. */
const FETCH_DEADLINE_MS = 60_000;
/** Discord's error for a user whose DMs are closed to the bot. */
const CANNOT_DM = 50007;
/** The separator between a button's owner and its data in a custom id. */
const OWNER = '|';
/** An interaction's token lasts 15 minutes; past 14, answers go by DM. */
const TOKEN_LIFE_MS = 14 * 60_000;
/** Turns of one account waiting behind the one running; more are refused. */
const QUEUED_PER_ACCOUNT = 4;
/** The longest option value taken (Discord allows 6000 characters a string). */
const MAX_OPTION = 6000;

/** One of the core's messages as a Discord message; its buttons answer only `owner`. */
function payload(message: Message | string, owner: string) {
  const m: Message = typeof message === 'string' ? { text: message } : message;
  let content = toMarkdown(m.text);
  if (m.file?.caption) content = `${content}${content ? '\n' : ''}${toMarkdown(m.file.caption)}`;
  if (content.length > MESSAGE_LIMIT) content = `${content.slice(0, MESSAGE_LIMIT - 1)}…`;
  // Always given: an edit without buttons must take away the ones the message had (Discord keeps
  // what an edit leaves out; Telegram drops a keyboard an edit does not repeat).
  const components =
    m.buttons === undefined
      ? []
      : buttonRows(m.buttons).map((row) =>
          new ActionRowBuilder<ButtonBuilder>().addComponents(
            row.map((b) =>
              new ButtonBuilder().setCustomId(`${owner}${OWNER}${b.data}`).setLabel(b.label.slice(0, 80)).setStyle(ButtonStyle.Secondary),
            ),
          ),
        );
  return {
    content: content || (m.file ? undefined : '…'),
    components,
    ...(m.file ? { files: [new AttachmentBuilder(m.file.data, { name: m.file.name })] } : {}),
    // Nothing a user wrote pings anyone.
    allowedMentions: { parse: [] },
    ...(m.noPreview ? { flags: MessageFlags.SuppressEmbeds as const } : {}),
  };
}

/** The slash commands, from the core's list: typed options; a secret is typed into a form, never an option. */
export function slashCommands() {
  const type = (t?: string) => (t === 'integer' ? 4 : t === 'attachment' ? 11 : 3);
  return COMMANDS.map((c) => {
    const args = (c.args ?? []).filter((a) => !a.secret);
    // Discord wants the required options first.
    const ordered = [...args.filter((a) => a.required), ...args.filter((a) => !a.required)];
    return {
      name: c.command,
      description: c.description.slice(0, 100),
      type: 1,
      // Usable in servers and in the bot's DMs.
      contexts: [0, 1],
      integration_types: [0],
      options: ordered.map((a) => ({
        type: type(a.type),
        name: a.name,
        description: a.description.slice(0, 100),
        required: Boolean(a.required),
        ...(a.type === 'integer' ? { min_value: 0 } : {}),
      })),
    };
  });
}

/** An attachment's bytes, fetched only from Discord's own hosts (or the stand-in API's), within a size and a deadline. */
async function fetchAttachment(url: string, max: number, apiRoot: string): Promise<Buffer> {
  const host = new URL(url).host;
  const allowed = new Set(['cdn.discordapp.com', 'media.discordapp.net', new URL(apiRoot).host]);
  if (!allowed.has(host))
    throw new BerthError('FILE_UNAVAILABLE', 'That attachment is not on Discord’s servers.', 'Attach the file again.');
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_DEADLINE_MS), redirect: 'error' });
  if (!response.ok || !response.body)
    throw new BerthError('FILE_UNAVAILABLE', `Discord answered ${response.status} for that attachment.`, 'Attach the file again.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        `That file is larger than berth takes from Discord (${Math.floor(max / 1048576)} MB).`,
        'Use scp or sftp through the SSH gateway (/ssh).',
      );
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

interface DiscordDeps {
  core: ChatCore;
  log: Logger;
  info: FrontEndInfo;
  apiRoot: string;
  counters?: FrontEndCounters;
}

/**
 * Answers to one interaction: the first fills the deferred reply, later ones are ephemeral
 * follow-ups; each can be edited while the interaction's token lives (15 minutes).
 */
class InteractionReplies {
  private filled: boolean;
  replied = false;
  private readonly createdAt = Date.now();

  constructor(
    private readonly interaction: RepliableInteraction,
    private readonly deps: DiscordDeps,
    /** A button press: the deferred update is the pressed message, not a reply to fill. */
    pressed: boolean,
  ) {
    this.filled = pressed;
  }

  private get owner() {
    return this.interaction.user.id;
  }

  /** Past this, the interaction's token is about to end (15 minutes): answers go by DM. */
  private get expired() {
    return Date.now() - this.createdAt > TOKEN_LIFE_MS;
  }

  /** A message whose edits go to a DM once the token has ended (one DM, edited from then on). */
  private edit(id: string | '@original'): Posted {
    const i = this.interaction;
    let dm: DjsMessage | null = null;
    return {
      edit: async (m) => {
        this.deps.counters?.edits.inc();
        if (dm) {
          await dm.edit(payload(m, this.owner) as never);
          return;
        }
        if (this.expired) {
          dm = await i.user.send(payload(m, this.owner) as never);
          return;
        }
        await i.editReply({ ...payload(m, this.owner), message: id });
      },
      remove: async () => {
        if (dm) await dm.delete();
        else await i.deleteReply(id);
      },
    };
  }

  reply = async (message: Message | string): Promise<Posted> => {
    this.replied = true;
    this.deps.counters?.sent.inc();
    const p = payload(message, this.owner);
    if (this.expired) {
      const sent = await this.interaction.user.send(p as never);
      return {
        edit: async (m) => {
          await sent.edit(payload(m, this.owner) as never);
        },
        remove: async () => {
          await sent.delete();
        },
      };
    }
    if (!this.filled) {
      this.filled = true;
      await this.interaction.editReply(p);
      return this.edit('@original');
    }
    const flags = MessageFlags.Ephemeral | (p.flags ?? 0);
    const sent = await this.interaction.followUp({ ...p, flags });
    return this.edit(sent.id);
  };

  /** The pressed message (button presses). */
  pressedMessage(): Posted {
    return this.edit('@original');
  }
}

function accountOf(interaction: Interaction, allowedGuild: boolean): ChatAccount {
  const member = interaction.member as unknown as { _roles?: string[]; roles?: unknown } | null;
  const all = allowedGuild && member ? (member._roles ?? (Array.isArray(member.roles) ? (member.roles as string[]) : [])) : undefined;
  // The guild's own id is its @everyone role: never a way to make every member an admin.
  const roles = all?.filter((r) => r !== interaction.guildId);
  return {
    frontEnd: 'discord',
    id: interaction.user.id,
    username: interaction.user.username,
    ...(roles ? { roles } : {}),
  };
}

export async function startDiscord(options: BotOptions): Promise<DiscordBot> {
  const { core, log, token, config } = options;
  const apiRoot = discordApiRoot(config);
  const deps: DiscordDeps = { core, log, info: discordInfo(), apiRoot, counters: options.counters };
  const store = core.deps.ctx.store;
  // No privileged intents: slash commands, buttons and forms come as interactions; DMs with their text.
  let botId = '';
  const client: Client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.DirectMessages],
    partials: [Partials.Channel],
    rest: { api: apiRoot },
    // Strangers who write once must not stay in memory for good.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 20, UserManager: 2000 }),
    sweepers: {
      ...Options.DefaultSweeperSettings,
      users: { interval: 3600, filter: () => (user: { id: string }) => user.id !== botId },
    },
  });
  const turns = new PerKey(QUEUED_PER_ACCOUNT);
  let lastInteractionAt: Date | null = null;
  let interactions = 0;

  const guildAllowed = async (guildId: string | null) => {
    if (!guildId) return true;
    return effectiveConfig((await store.read()).config)['discord.guilds'].includes(guildId);
  };
  const leave = async (guildId: string) => {
    const guild = client.guilds.cache.get(guildId);
    if (!guild) return;
    log.info({ guild: guildId, name: guild.name }, 'left a Discord server that discord.guilds does not allow');
    await guild.leave().catch((err: Error) => log.warn({ guild: guildId, err: err.message }, 'could not leave a Discord server'));
  };

  const base = (
    interaction: RepliableInteraction,
    replies: InteractionReplies,
    allowed: boolean,
    extra: Partial<TurnBase> = {},
  ): TurnBase => ({
    frontEnd: deps.info,
    account: accountOf(interaction, allowed && interaction.guildId !== null),
    reply: replies.reply,
    ...extra,
  });

  const incomingOf = (attachment: { name: string; size: number; url: string } | null | undefined): Incoming | undefined =>
    attachment
      ? {
          name: attachment.name,
          size: attachment.size,
          fetch: () => fetchAttachment(attachment.url, deps.info.maxFetchBytes, apiRoot),
        }
      : undefined;

  const onCommand = async (interaction: ChatInputCommandInteraction) => {
    const spec = findCommand(interaction.commandName);
    // A secret is typed into a form: the form is the first answer (no deferral before it).
    const secret = spec?.args?.find((a) => a.secret);
    if (spec && secret) {
      const name = (interaction.options.getString('name') ?? '').slice(0, 60);
      const modal = new ModalBuilder()
        .setCustomId(`${spec.command}${OWNER}${name}`)
        .setTitle(`/${spec.command}`.slice(0, 45))
        .addLabelComponents(
          new LabelBuilder()
            .setLabel(secret.description.slice(0, 45))
            .setTextInputComponent(
              new TextInputBuilder().setCustomId(secret.name).setStyle(TextInputStyle.Short).setRequired(true).setMaxLength(1000),
            ),
        );
      await interaction.showModal(modal);
      return;
    }
    // Every answer is private; deferred at once, within Discord's 3 s.
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const replies = new InteractionReplies(interaction, deps, false);
    const args: Record<string, string> = {};
    let attachment: Incoming | undefined;
    for (const option of interaction.options.data) {
      if (option.attachment) attachment = incomingOf(option.attachment);
      else if (option.value !== undefined) args[option.name] = String(option.value).slice(0, MAX_OPTION);
    }
    await inTurn(interaction, async () => {
      const answered = await core.command(
        base(interaction, replies, true, { args, ...(attachment ? { attachment } : {}) }),
        interaction.commandName,
      );
      // Nothing said (a silent refusal): no "thinking…" left behind.
      if (!answered && !replies.replied) await interaction.deleteReply().catch(() => undefined);
    });
  };

  /** After the interaction was answered (deferred): its work, behind the same person's earlier turns. */
  const inTurn = async (interaction: RepliableInteraction, work: () => Promise<void>) => {
    const queued = turns.run(interaction.user.id, () =>
      work().catch((err: Error) => log.error({ err: err.message }, 'a Discord interaction failed')),
    );
    if (!queued) {
      await interaction
        .followUp({ content: 'Slow down: wait for your earlier commands to finish.', flags: MessageFlags.Ephemeral })
        .catch(() => undefined);
    }
  };

  const onInteraction = async (interaction: Interaction) => {
    lastInteractionAt = new Date();
    interactions++;
    deps.counters?.updates.inc();
    if (interaction.user.bot || !interaction.isRepliable()) return;
    if (!(await guildAllowed(interaction.guildId))) {
      await interaction
        .reply({ content: 'berth does not work in this server. Write to the bot in a direct message.', flags: MessageFlags.Ephemeral })
        .catch(() => undefined);
      if (interaction.guildId) await leave(interaction.guildId);
      return;
    }
    if (interaction.isChatInputCommand()) return onCommand(interaction);
    if (interaction.isButton()) {
      const cut = interaction.customId.indexOf(OWNER);
      const owner = interaction.customId.slice(0, cut);
      // Nobody acts on another person's buttons.
      if (cut < 0 || owner !== interaction.user.id) {
        log.info({ user: interaction.user.id }, 'a button press by someone it was not for was ignored');
        await interaction.reply({ content: 'This button is not for you.', flags: MessageFlags.Ephemeral }).catch(() => undefined);
        return;
      }
      await interaction.deferUpdate();
      const replies = new InteractionReplies(interaction, deps, true);
      await inTurn(interaction, () =>
        core.press(
          base(interaction, replies, true, {
            pressed: replies.pressedMessage(),
            toast: async (text) => {
              await replies.reply(text);
            },
          }),
          interaction.customId.slice(cut + 1),
        ),
      );
      return;
    }
    if (interaction.isModalSubmit()) {
      const cut = interaction.customId.indexOf(OWNER);
      const command = interaction.customId.slice(0, cut);
      const spec = findCommand(command);
      const secret = spec?.args?.find((a) => a.secret);
      if (!spec || !secret || cut < 0) {
        await interaction.reply({ content: 'This form is no longer valid.', flags: MessageFlags.Ephemeral }).catch(() => undefined);
        return;
      }
      await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      const replies = new InteractionReplies(interaction, deps, false);
      const value = interaction.fields.fields.get(secret.name);
      const args = { name: interaction.customId.slice(cut + 1), [secret.name]: value && 'value' in value ? String(value.value) : '' };
      await inTurn(interaction, async () => {
        const answered = await core.command(base(interaction, replies, true, { args, secretVia: 'form' }), spec.command);
        if (!answered && !replies.replied) await interaction.deleteReply().catch(() => undefined);
      });
    }
  };

  // Plain messages in DMs: prompts for the agent (DMs carry their text without a privileged intent).
  const onMessage = async (message: DjsMessage) => {
    if (message.author.bot || message.guildId) return;
    deps.counters?.updates.inc();
    const send = async (m: Message | string): Promise<Posted> => {
      deps.counters?.sent.inc();
      const sent = await (message.channel as DMChannel).send(payload(m, message.author.id) as never);
      return {
        edit: async (next) => {
          await sent.edit(payload(next, message.author.id) as never);
          deps.counters?.edits.inc();
        },
        remove: async () => {
          await sent.delete();
        },
      };
    };
    const file = incomingOf(message.attachments.first());
    const text = message.content.startsWith('/') ? '' : message.content;
    const account = { frontEnd: 'discord' as const, id: message.author.id, username: message.author.username };
    turns.run(message.author.id, () => core.message({ frontEnd: deps.info, account, reply: send }, text, file));
  };

  client.on(Events.InteractionCreate, (interaction) => {
    onInteraction(interaction).catch((err: Error) => log.error({ err: err.message }, 'a Discord interaction failed'));
  });
  client.on(Events.MessageCreate, (message) => {
    onMessage(message).catch((err: Error) => log.error({ err: err.message }, 'a Discord message failed'));
  });
  client.on(Events.GuildCreate, (guild) => {
    guildAllowed(guild.id)
      .then((ok) => (ok ? undefined : leave(guild.id)))
      .catch(() => undefined);
  });
  client.on(Events.Error, (err) => log.warn({ err: err.message }, 'the Discord client reported an error'));
  let detach: () => void = () => undefined;
  client.on(Events.Invalidated, () => {
    log.error('the Discord session was invalidated');
    detach();
    client.destroy().catch(() => undefined);
    options.onFailure('the Discord session was invalidated (was the token reset?)');
  });

  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.login(token).then(() => ready),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no READY within ${LOGIN_DEADLINE_MS / 1000} s`)), LOGIN_DEADLINE_MS);
      }),
    ]);
    await client.application?.commands.set(slashCommands() as never);
  } catch (err) {
    await client.destroy().catch(() => undefined);
    throw new BerthError(
      'DISCORD_UNREACHABLE',
      `Discord at ${apiRoot} refused the bot or did not answer: ${(err as Error).message}`,
      'Check the token (berth discord setup) and discord.api-root.',
    );
  } finally {
    clearTimeout(timer);
  }
  botId = client.user?.id ?? '';
  for (const guild of client.guilds.cache.values()) if (!(await guildAllowed(guild.id))) await leave(guild.id);

  const reach: Reach = {
    info: deps.info,
    send: async (id, message) => {
      try {
        const user = await client.users.fetch(id);
        await user.send(payload(message, id) as never);
        deps.counters?.sent.inc();
        return 'sent';
      } catch (err) {
        if (err instanceof DiscordAPIError && err.code === CANNOT_DM) return 'blocked';
        throw err;
      }
    },
  };
  detach = core.attach(reach);
  const username = client.user?.username ?? '?';
  log.info({ username, apiRoot, guilds: client.guilds.cache.size }, 'discord bot started');

  return {
    status: () => ({
      username,
      applicationId: client.application?.id ?? '',
      guilds: client.guilds.cache.size,
      apiRoot,
      tokenSource: options.tokenSource,
      lastInteractionAt: lastInteractionAt?.toISOString() ?? null,
      interactions,
    }),
    stop: async () => {
      detach();
      await client.destroy();
    },
  };
}
