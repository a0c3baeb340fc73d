import { isDeepStrictEqual } from 'node:util';
import { argsFromText, findCommand } from '../../daemon/chat/commands.js';
import type { Run } from '../helpers/cli.js';

/** Someone who writes to the bot; `id` is their account id on the messenger (a Telegram number, a Discord snowflake). */
export interface Person {
  name: string;
  id: string;
  username: string;
}

export interface ReplyButton {
  label: string;
  /** What the press carries to the chat core (on Discord, without the owner prefix). */
  data: string;
}

/** Something the bot said to a person, in no messenger's terms. */
export interface Reply {
  /** Plain words: Telegram's HTML tags stripped and entities decoded; Discord's Markdown markers and escapes removed. */
  text: string;
  links: string[];
  buttons: ReplyButton[];
  files: { name: string; data: Buffer }[];
  /** Only the person sees it: a private chat (Telegram); an ephemeral reply or a DM (Discord). */
  private: boolean;
  messageId: string;
  /** An edit of a message already shown (false: the message appearing, even if the messenger calls it an edit). */
  edit: boolean;
  /** Who it went to (their account id). */
  to: string;
}

/** The berth CLI on the test's home. */
export type BerthRun = (args: string[], input?: string) => Promise<Run>;

/**
 * One messenger as the chat conformance cases (cases.ts) use it: the stand-in server, the person
 * side (commands, files, buttons, secrets, prompts), and what the bot said, normalised.
 */
export interface ChatDriver {
  /** `telegram` or `discord`: the front-end's name in config keys and CLI flags. */
  readonly name: 'telegram' | 'discord';
  /** Starts the stand-in(s); before `setup`. */
  start(): Promise<void>;
  /** A person of this messenger, made on first use of the name. */
  person(name: string): Person;
  /** `--telegram-id N` / `--discord-id N`: the flag that ties a berth user to the person. */
  idFlags(person: Person): string[];
  /** Points berth at the stand-in (config keys: api root, admins, rate limit…) and stores the token (`berth … setup`). */
  setup(run: BerthRun, admins: Person[]): Promise<void>;
  /** Waits for the bot of the running daemon to be ready for people. */
  ready(run: BerthRun): Promise<void>;
  /** A position in what the bot said: replies after it are new. */
  mark(): number;
  /** A command with named arguments (Telegram: `/name args` as text; Discord: a slash command with typed options). */
  command(person: Person, name: string, args?: Record<string, string>): Promise<void>;
  /**
   * A command with a file (Telegram: a document captioned `/name args`; Discord: the slash command
   * with its file option and typed options).
   */
  attach(person: Person, name: string, file: { name: string; data: Buffer }, args?: Record<string, string>): Promise<void>;
  /** A file for `/upload` (Telegram: a document captioned /upload; Discord: /upload with its file option). */
  upload(person: Person, file: { name: string; data: Buffer }, dir?: string): Promise<void>;
  /**
   * `person` presses the button with `data` on `reply`. Resolves once the messenger has the press
   * answered, with what the presser was told at once (a toast, a refusal), or null.
   */
  press(person: Person, reply: Reply, data: string): Promise<{ note: string | null }>;
  /** Gives berth a secret (Telegram: `/setkey NAME VALUE`; Discord: `/setkey name:NAME`, then the form). */
  secret(person: Person, name: string, value: string): Promise<void>;
  /** A message for the coding agent (Telegram: plain text; Discord: /ask). */
  prompt(person: Person, text: string): Promise<void>;
  /** Everything the bot said to `person` since `after`. */
  replies(person: Person, after?: number): Reply[];
  /** The first reply to `person` since `after` that matches; fails past the deadline with what was said. */
  waitFor(person: Person, match: (r: Reply) => boolean, options?: { after?: number; timeoutMs?: number }): Promise<Reply>;
  /** How many times the message was edited after it appeared. */
  edits(messageId: string): number;
  /** All the bot sent and every request body it made, as text (for secret checks). */
  everything(): string;
  close(): Promise<void>;
}

/** Replies since `after` until one matches or the deadline passes. */
export async function pollReplies(list: () => Reply[], match: (r: Reply) => boolean, timeoutMs: number, what: string): Promise<Reply> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = list().find(match);
    if (found) return found;
    if (Date.now() > end) {
      const seen = list()
        .slice(-6)
        .map((r) => `${r.edit ? 'edit' : 'new'} ${r.messageId}: ${r.text.slice(0, 300)}`);
      throw new Error(`no reply to ${what} matched within ${timeoutMs} ms; the last ones:\n${seen.join('\n') || '(none)'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The text of a Telegram command with these arguments: the inverse of the bot's parsing
 * (argsFromText), checked by parsing it back.
 */
export function commandText(name: string, args: Record<string, string> = {}): string {
  const spec = findCommand(name);
  const given = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined && v !== ''));
  if (!spec || Object.keys(given).length === 0) return `/${name}`;
  const order = (spec.args ?? []).map((a) => a.name).filter((n) => n in given);
  const plain = order.map((n) => given[n]).join(' ');
  const { vm, ...rest } = given;
  const withVm = `@${vm} ${(spec.args ?? [])
    .map((a) => a.name)
    .filter((n) => n in rest)
    .map((n) => rest[n])
    .join(' ')}`.trim();
  for (const text of vm ? [plain, withVm] : [plain]) {
    const parsed = Object.fromEntries(Object.entries(argsFromText(spec, text)).filter(([, v]) => v !== undefined));
    if (isDeepStrictEqual(parsed, given)) return `/${spec.command} ${text}`;
  }
  throw new Error(`no Telegram text gives /${name} the arguments ${JSON.stringify(args)}`);
}

const decode = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

export const BARE_URL = /https?:\/\/[^\s<>()"']+/g;

/**
 * Telegram HTML as plain words and its links: the <a> tags and the addresses in the text, which
 * Telegram's apps link too (never inside <code> or <pre>).
 */
export function fromHtml(html: string): { text: string; links: string[] } {
  const links = [...html.matchAll(/<a\s+href="([^"]*)"/g)].map((m) => decode(m[1] ?? ''));
  const text = decode(html.replace(/<[^>]+>/g, ''));
  const outsideCode = decode(html.replace(/<(pre|code)>[\s\S]*?<\/\1>/g, ' ').replace(/<[^>]+>/g, ''));
  for (const url of outsideCode.match(BARE_URL) ?? []) if (!links.includes(url)) links.push(url);
  return { text, links };
}

/**
 * Discord Markdown (as render.ts writes it) as plain words and its links: masked links and the
 * addresses in the text, which Discord links too (never inside code).
 */
export function fromMarkdown(md: string): { text: string; links: string[] } {
  let out = '';
  let outsideCode = '';
  const links: string[] = [];
  let n = 0;
  while (n < md.length) {
    const rest = md.slice(n);
    if (rest.startsWith('```')) {
      const end = md.indexOf('```', n + 3);
      const inner = md.slice(n + 3, end < 0 ? md.length : end);
      out += inner
        .replace(/^\n/, '')
        .replace(/\n$/, '')
        .replace(/\u200b/g, '');
      n = end < 0 ? md.length : end + 3;
      continue;
    }
    if (rest.startsWith('`` ')) {
      const end = md.indexOf(' ``', n + 3);
      out += md.slice(n + 3, end < 0 ? md.length : end).replace(/\u200b/g, '');
      outsideCode += ' ';
      n = end < 0 ? md.length : end + 3;
      continue;
    }
    if (rest.startsWith('`')) {
      const end = md.indexOf('`', n + 1);
      out += md.slice(n + 1, end < 0 ? md.length : end);
      outsideCode += ' ';
      n = end < 0 ? md.length : end + 1;
      continue;
    }
    const link = rest.match(/^\[((?:\\.|[^\]])*)\]\(<([^>]*)>\)/);
    if (link) {
      out += (link[1] ?? '').replace(/\\(.)/g, '$1');
      outsideCode += ' ';
      links.push(link[2] ?? '');
      n += link[0].length;
      continue;
    }
    if (rest.startsWith('\\') && rest.length > 1) {
      out += rest[1];
      outsideCode += rest[1];
      n += 2;
      continue;
    }
    if (rest.startsWith('*')) {
      n += 1;
      continue;
    }
    out += rest[0];
    outsideCode += rest[0];
    n += 1;
  }
  for (const url of outsideCode.match(BARE_URL) ?? []) if (!links.includes(url)) links.push(url);
  return { text: out, links };
}

/** Files as text in `everything()`: a secret must not be in them either. */
export const fileText = (data: Buffer | undefined) => (data ? data.toString('latin1') : '');
