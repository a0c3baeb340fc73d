import { InputFile } from 'grammy';
import { BerthError } from '../../src/errors.js';
import type { BotContext } from './bot-context.js';

/** Telegram's limit on a message's text. */
export const MESSAGE_LIMIT = 4096;
/** Room kept for the words around an output block. */
const BLOCK_LIMIT = 3200;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function code(text: string): string {
  return `<code>${escapeHtml(text)}</code>`;
}

/** Splits text at line ends into messages Telegram accepts. */
export function splitMessage(text: string, limit = MESSAGE_LIMIT): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = rest.lastIndexOf('\n', limit);
    if (cut < limit / 2) cut = limit;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

/** Plain text of any length: split into several messages. */
export async function replyLong(ctx: BotContext, text: string): Promise<void> {
  for (const part of splitMessage(text)) await ctx.reply(part);
}

export interface OutputReply {
  /** HTML shown above the block. */
  title: string;
  output: Buffer;
  /** HTML shown under the block (exit code…). */
  footer?: string;
  fileName: string;
}

/**
 * Program output in a monospace block; when it does not fit one message, the block
 * shows its end and the whole output comes as a file.
 */
export function renderOutput(reply: OutputReply): { html: string; attach: boolean } {
  const text = reply.output.toString('utf8');
  const escaped = escapeHtml(text);
  const attach = escaped.length > BLOCK_LIMIT;
  const shown = attach ? `…\n${tailWithin(text, BLOCK_LIMIT)}` : escaped;
  const block = text.trim().length > 0 ? `<pre>${shown}</pre>` : '<i>(no output)</i>';
  const footer = [reply.footer, attach ? `Full output (${reply.output.length} bytes) attached.` : undefined].filter(Boolean).join('\n');
  return { html: `${reply.title}\n${block}${footer ? `\n${footer}` : ''}`, attach };
}

/** The end of `text`, escaped, in at most `limit` characters (escaping lengthens `<`, `>`, `&`). */
function tailWithin(text: string, limit: number): string {
  let size = 0;
  let start = text.length;
  while (start > 0) {
    const next = escapeHtml(text[start - 1] ?? '').length;
    if (size + next > limit) break;
    size += next;
    start--;
  }
  // Never start in the middle of a surrogate pair (an emoji).
  if (/[\udc00-\udfff]/.test(text[start] ?? '')) start++;
  return escapeHtml(text.slice(start));
}

export async function sendOutput(ctx: BotContext, reply: OutputReply, editMessageId?: number): Promise<void> {
  const { html, attach } = renderOutput(reply);
  const chat = ctx.chat?.id as number;
  if (editMessageId !== undefined) await ctx.api.editMessageText(chat, editMessageId, html, { parse_mode: 'HTML' });
  else await ctx.reply(html, { parse_mode: 'HTML' });
  if (attach) await ctx.replyWithDocument(new InputFile(reply.output, reply.fileName));
}

/** What a user sees when something they asked for cannot be done. */
export function errorText(err: unknown): string {
  if (err instanceof BerthError) return `⚠️ ${err.message}${err.hint ? `\n${err.hint}` : ''}`;
  return '⚠️ Something went wrong on the server. The operator can see the details in the daemon log.';
}
