import { waitFor } from '../helpers/daemon.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import {
  BARE_URL,
  type BerthRun,
  type ChatDriver,
  commandText,
  fileText,
  fromHtml,
  type Person,
  pollReplies,
  type Reply,
} from './driver.js';

export type FakeBotApi = Awaited<ReturnType<typeof startFakeBotApi>>;
type Sent = FakeBotApi['sent'][number];

/** Telegram ids for the people of a test file, one range per driver. */
let nextId = 610_000 + Math.floor(Math.random() * 1000) * 100;

/** What the bot said (a send or an edit) as a reply; null for what is not for a person. */
export function telegramReply(s: Sent, seen: Set<number>): Reply | null {
  if (s.method !== 'sendMessage' && s.method !== 'editMessageText' && s.method !== 'sendDocument') return null;
  // Text without marks is sent without a parse mode: it is read as it is.
  const raw = String(s.text ?? '');
  const { text, links } = s.parseMode === 'HTML' ? fromHtml(raw) : { text: raw, links: raw.match(BARE_URL) ?? [] };
  const edit = s.method === 'editMessageText' && seen.has(s.messageId);
  seen.add(s.messageId);
  const rows = (s.replyMarkup?.inline_keyboard ?? []) as { text: string; callback_data?: string }[][];
  return {
    text,
    links,
    buttons: rows.flat().map((b) => ({ label: b.text, data: b.callback_data ?? '' })),
    files: s.document ? [{ name: s.document.name, data: s.document.data }] : [],
    // The stand-in's chats are private chats: the chat id is the person's id.
    private: s.chatId > 0,
    messageId: String(s.messageId),
    edit,
    to: String(s.chatId),
  };
}

/** The chat conformance cases over the Telegram Bot API stand-in (test/helpers/fake-bot-api.js). */
export class TelegramDriver implements ChatDriver {
  readonly name = 'telegram' as const;
  fake!: FakeBotApi;
  private readonly people = new Map<string, Person>();

  async start(): Promise<void> {
    this.fake = await startFakeBotApi();
  }

  person(name: string): Person {
    let p = this.people.get(name);
    if (!p) {
      p = { name, id: String(nextId++), username: name };
      this.people.set(name, p);
    }
    return p;
  }

  private user(p: Person) {
    return { id: Number(p.id), username: p.username };
  }

  idFlags(p: Person): string[] {
    return ['--telegram-id', p.id];
  }

  async setup(run: BerthRun, admins: Person[]): Promise<void> {
    for (const args of [
      ['config', 'set', 'telegram.api-root', this.fake.apiRoot],
      ['config', 'set', 'telegram.admins', admins.map((a) => a.id).join(',')],
      // The cases send many commands a minute; the limit has tests of its own.
      ['config', 'set', 'telegram.rate-limit', '1000'],
    ]) {
      const r = await run(args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    }
    const setup = await run(['telegram', 'setup'], `${this.fake.token}\n`);
    if (setup.code !== 0) throw new Error(`berth telegram setup: ${setup.stderr}`);
  }

  async ready(): Promise<void> {
    await waitFor('the Telegram bot to poll', async () => this.fake.calls.some((c) => c.method === 'getUpdates'), 60_000);
  }

  mark(): number {
    return this.fake.sent.length;
  }

  async command(p: Person, name: string, args: Record<string, string> = {}): Promise<void> {
    this.fake.sendText(this.user(p), commandText(name, args));
  }

  async attach(p: Person, name: string, file: { name: string; data: Buffer }, args: Record<string, string> = {}): Promise<void> {
    this.fake.sendDocument(this.user(p), file.name, file.data, commandText(name, args));
  }

  async upload(p: Person, file: { name: string; data: Buffer }, dir?: string): Promise<void> {
    this.fake.sendDocument(this.user(p), file.name, file.data, dir ? `/upload ${dir}` : '/upload');
  }

  async press(p: Person, reply: Reply, data: string): Promise<{ note: string | null }> {
    if (!reply.buttons.some((b) => b.data === data)) throw new Error(`the reply has no button "${data}"`);
    const calls = this.fake.calls.length;
    const update = this.fake.pressButton(this.user(p), Number(reply.messageId), data);
    const id = update.callback_query.id;
    const answered = await waitFor(
      `the press ${data} to be answered`,
      async () => this.fake.calls.slice(calls).find((c) => c.method === 'answerCallbackQuery' && c.params.callback_query_id === id) ?? null,
      30_000,
    );
    return { note: typeof answered.params.text === 'string' ? answered.params.text : null };
  }

  async secret(p: Person, name: string, value: string): Promise<void> {
    this.fake.sendText(this.user(p), `/setkey ${name} ${value}`);
  }

  async prompt(p: Person, text: string): Promise<void> {
    this.fake.sendText(this.user(p), text);
  }

  private all(): Reply[] {
    const seen = new Set<number>();
    return this.fake.sent.map((s) => telegramReply(s, seen)).filter((r): r is Reply => r !== null);
  }

  replies(p: Person, after = 0): Reply[] {
    const seen = new Set<number>();
    const out: Reply[] = [];
    this.fake.sent.forEach((s, n) => {
      const r = telegramReply(s, seen);
      if (r && n >= after && r.to === p.id) out.push(r);
    });
    return out;
  }

  waitFor(p: Person, match: (r: Reply) => boolean, options: { after?: number; timeoutMs?: number } = {}): Promise<Reply> {
    return pollReplies(() => this.replies(p, options.after ?? 0), match, options.timeoutMs ?? 30_000, p.name);
  }

  edits(messageId: string): number {
    return this.all().filter((r) => r.messageId === messageId && r.edit).length;
  }

  everything(): string {
    const sent = this.fake.sent.map((s) => `${s.method} ${s.chatId} ${s.text ?? ''} ${fileText(s.document?.data)}`);
    const calls = this.fake.calls.map((c) => `${c.method} ${JSON.stringify(c.params)}`);
    return [...sent, ...calls].join('\n');
  }

  async close(): Promise<void> {
    await this.fake?.close();
  }
}
