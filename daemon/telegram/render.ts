import { InlineKeyboard } from 'grammy';
import { asRich, type Message, type Rich } from '../chat/message.js';
import type { FrontEndInfo } from '../chat/turn.js';

/** Telegram's limit on a message's text. */
export const MESSAGE_LIMIT = 4096;
/** Room kept for the words around an output block. */
const BLOCK_LIMIT = 3200;
const MB = 1024 * 1024;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const escapeAttr = (text: string) => escapeHtml(text).replace(/"/g, '&quot;');

/** The core's text as Telegram HTML: every span escaped. */
export function toHtml(text: Rich | string): string {
  return asRich(text)
    .map((s) => {
      if (typeof s === 'string') return escapeHtml(s);
      if ('b' in s) return `<b>${escapeHtml(s.b)}</b>`;
      if ('i' in s) return `<i>${escapeHtml(s.i)}</i>`;
      if ('code' in s) return `<code>${escapeHtml(s.code)}</code>`;
      if ('pre' in s) return `<pre>${escapeHtml(s.pre)}</pre>`;
      return `<a href="${escapeAttr(s.href)}">${escapeHtml(s.link)}</a>`;
    })
    .join('');
}

/**
 * The text and parse mode Telegram is sent: text without marks goes as it is (no parse mode), so
 * what users wrote arrives exactly; marked text as HTML with every span escaped.
 */
export function telegramText(text: Rich | string): { text: string; parse_mode?: 'HTML' } {
  const rich = asRich(text);
  if (rich.every((s) => typeof s === 'string')) return { text: rich.join('') };
  return { text: toHtml(rich), parse_mode: 'HTML' };
}

export function keyboard(message: Message): InlineKeyboard | undefined {
  if (!message.buttons) return undefined;
  const board = new InlineKeyboard();
  for (const row of message.buttons) {
    for (const button of row) board.text(button.label, button.data);
    board.row();
  }
  return board;
}

/** What Telegram is like for the core: official Bot API limits, or a self-hosted server's (capped: files pass through memory). */
export function telegramInfo(official: boolean): FrontEndInfo {
  return {
    name: 'telegram',
    title: 'Telegram',
    messageLimit: MESSAGE_LIMIT,
    renderedLength: (text) => telegramText(text).text.length,
    blockLimit: BLOCK_LIMIT,
    charCost: (c) => escapeHtml(c).length,
    // Telegram's limit counts the text after its HTML is parsed: escapes cost nothing.
    textCost: () => 1,
    maxSendBytes: official ? 50 * MB : 200 * MB,
    maxFetchBytes: official ? 20 * MB : 200 * MB,
    // Telegram allows about one edit a second per chat.
    editIntervalMs: 1100,
  };
}
