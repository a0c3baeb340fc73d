import { waitFor } from '../helpers/daemon.js';
import { startFakeDiscordApi } from '../helpers/fake-discord-api.js';
import { type BerthRun, type ChatDriver, fileText, fromMarkdown, type Person, pollReplies, type Reply } from './driver.js';

export type FakeDiscordApi = Awaited<ReturnType<typeof startFakeDiscordApi>>;
type Sent = FakeDiscordApi['sent'][number];

/** The separator of a button's owner and its data in a custom id (daemon/discord/bot.ts). */
const OWNER = '|';

/** What the bot said to a person (an interaction's reply filled or edited, a follow-up, a DM) as a reply. */
export function discordReply(s: Sent, shown: Set<string>): Reply | null {
  if (!['reply', 'edit', 'followup', 'dm', 'update'].includes(s.kind) || !s.messageId || !s.userId) return null;
  const { text, links } = fromMarkdown(String(s.content ?? ''));
  // A deferred reply appears when it is first filled: that first edit is the message appearing.
  const edit = (s.kind === 'edit' || s.kind === 'update') && shown.has(s.messageId);
  shown.add(s.messageId);
  const buttons = (s.components ?? []) as { label: string | null; customId: string | null }[];
  return {
    text,
    links,
    buttons: buttons.map((b) => {
      const id = b.customId ?? '';
      const cut = id.indexOf(OWNER);
      return { label: b.label ?? '', data: cut < 0 ? id : id.slice(cut + 1) };
    }),
    files: ((s.files ?? []) as { name: string; data?: Buffer }[]).map((f) => ({ name: f.name, data: f.data ?? Buffer.alloc(0) })),
    // Only the person sees it: an ephemeral message, or any in their DM channel (a message in a server has its guildId).
    private: Boolean(s.ephemeral) || !s.guildId,
    messageId: String(s.messageId),
    edit,
    to: String(s.userId),
  };
}

export interface DiscordDriverOptions {
  /** The stand-in's rate limits (per route, ids left out), as Discord's shared limits behave. */
  rateLimit?: { limit: number; windowMs: number };
  /** Servers the bot is in; `allowed` ones go to discord.guilds. */
  guilds?: { id: string; name: string; allowed: boolean }[];
}

/** The chat conformance cases over the Discord REST and gateway stand-in (test/helpers/fake-discord-api.js). */
export class DiscordDriver implements ChatDriver {
  readonly name = 'discord' as const;
  fake!: FakeDiscordApi;
  private readonly people = new Map<string, Person>();

  constructor(private readonly options: DiscordDriverOptions = {}) {}

  async start(): Promise<void> {
    this.fake = await startFakeDiscordApi({
      ...(this.options.rateLimit ? { rateLimit: this.options.rateLimit } : {}),
      guilds: (this.options.guilds ?? []).map((g) => ({ id: g.id, name: g.name })),
    });
  }

  person(name: string): Person {
    let p = this.people.get(name);
    if (!p) {
      const u = this.fake.newUser(name);
      p = { name, id: u.id, username: name };
      this.people.set(name, p);
    }
    return p;
  }

  private user(p: Person) {
    return { id: p.id, username: p.username };
  }

  idFlags(p: Person): string[] {
    return ['--discord-id', p.id];
  }

  async setup(run: BerthRun, admins: Person[]): Promise<void> {
    const guilds = (this.options.guilds ?? []).filter((g) => g.allowed).map((g) => g.id);
    for (const args of [
      ['config', 'set', 'discord.api-root', this.fake.apiRoot],
      ['config', 'set', 'discord.admins', admins.map((a) => a.id).join(',')],
      ...(guilds.length ? [['config', 'set', 'discord.guilds', guilds.join(',')]] : []),
      ['config', 'set', 'discord.rate-limit', '1000'],
    ]) {
      const r = await run(args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    }
    const setup = await run(['discord', 'setup'], `${this.fake.token}\n`);
    if (setup.code !== 0) throw new Error(`berth discord setup: ${setup.stderr}`);
  }

  async ready(run: BerthRun): Promise<void> {
    await waitFor(
      'the Discord bot to register its commands and run',
      async () => {
        if (this.fake.commands.length === 0) return false;
        const r = await run(['daemon', 'status', '--json']);
        if (r.code !== 0) return false;
        const status = JSON.parse(r.stdout) as { components: { name: string; state: string }[] };
        return status.components.some((c) => c.name === 'discord' && c.state === 'running');
      },
      60_000,
    );
  }

  mark(): number {
    return this.fake.sent.length;
  }

  /** A slash command in the person's DMs, or in a server (`where.guildId`). */
  async command(p: Person, name: string, args: Record<string, string | object> = {}, where: { guildId?: string } = {}): Promise<void> {
    this.fake.command(this.user(p), name, args, where);
  }

  async attach(p: Person, name: string, file: { name: string; data: Buffer }, args: Record<string, string> = {}): Promise<void> {
    this.fake.command(this.user(p), name, { file: this.fake.attachment(file.name, file.data), ...args });
  }

  async upload(p: Person, file: { name: string; data: Buffer }, dir?: string): Promise<void> {
    const attachment = this.fake.attachment(file.name, file.data);
    this.fake.command(this.user(p), 'upload', { file: attachment, ...(dir ? { dir } : {}) });
  }

  async press(p: Person, reply: Reply, data: string): Promise<{ note: string | null }> {
    const message = this.fake.message(reply.messageId);
    const button = (message?.components ?? []).find((b: { customId: string | null }) => b.customId?.endsWith(`${OWNER}${data}`));
    if (!button) throw new Error(`message ${reply.messageId} has no button "${data}"`);
    const after = this.fake.sent.length;
    const { id } = this.fake.press(this.user(p), reply.messageId, button.customId);
    const i = await waitFor(
      `the press ${data} to be answered`,
      async () => {
        const got = this.fake.interaction(id);
        return got?.answeredAt !== undefined ? got : null;
      },
      30_000,
    );
    // A reply at once (type 4) is what the presser was told: a refusal.
    if (i.callbackType !== 4) return { note: null };
    const said = this.fake.sent.slice(after).find((s: Sent) => s.kind === 'reply' && s.interactionId === id);
    return { note: said ? fromMarkdown(String(said.content ?? '')).text : null };
  }

  async secret(p: Person, name: string, value: string): Promise<void> {
    const after = this.fake.sent.length;
    const { id } = this.fake.command(this.user(p), 'setkey', { name });
    const shown = await this.fake.waitFor((s: Sent) => s.kind === 'modal' && s.interactionId === id, { after });
    const field = shown.modal.fields[0]?.customId as string;
    this.fake.submitModal(this.user(p), shown.modal.customId, { [field]: value });
  }

  async prompt(p: Person, text: string): Promise<void> {
    this.fake.command(this.user(p), 'ask', { message: text });
  }

  private all(): { reply: Reply; n: number }[] {
    const shown = new Set<string>();
    const out: { reply: Reply; n: number }[] = [];
    this.fake.sent.forEach((s: Sent, n: number) => {
      const reply = discordReply(s, shown);
      if (reply) out.push({ reply, n });
    });
    return out;
  }

  replies(p: Person, after = 0): Reply[] {
    return this.all()
      .filter(({ reply, n }) => n >= after && reply.to === p.id)
      .map(({ reply }) => reply);
  }

  waitFor(p: Person, match: (r: Reply) => boolean, options: { after?: number; timeoutMs?: number } = {}): Promise<Reply> {
    return pollReplies(() => this.replies(p, options.after ?? 0), match, options.timeoutMs ?? 30_000, p.name);
  }

  edits(messageId: string): number {
    return this.all().filter(({ reply }) => reply.messageId === messageId && reply.edit).length;
  }

  everything(): string {
    const sent = this.fake.sent.map(
      (s: Sent) =>
        `${s.kind} ${s.userId ?? s.channelId} ${s.content ?? ''} ${JSON.stringify(s.components ?? [])} ${JSON.stringify(s.embeds ?? [])} ${(
          (s.files ?? []) as { data?: Buffer }[]
        )
          .map((f) => fileText(f.data))
          .join(' ')}`,
    );
    const calls = this.fake.calls.map(
      (c: { method: string; path: string; body: unknown; files: { data: Buffer }[] }) =>
        `${c.method} ${c.path} ${JSON.stringify(c.body ?? null)} ${c.files.map((f) => fileText(f.data)).join(' ')}`,
    );
    return [...sent, ...calls].join('\n');
  }

  async close(): Promise<void> {
    await this.fake?.close();
  }
}
