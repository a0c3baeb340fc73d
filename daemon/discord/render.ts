import { escapeMarkdown } from 'discord.js';
import { asRich, type Button, type Rich } from '../chat/message.js';
import type { FrontEndInfo } from '../chat/turn.js';

/** Discord's limit on a message's text. */
export const MESSAGE_LIMIT = 2000;
/** Room kept for the words around an output block. */
const BLOCK_LIMIT = 1500;
const MB = 1024 * 1024;
/** Discord's rows of buttons: at most 5 rows of 5. */
const ROWS = 5;
const PER_ROW = 5;

/** A code block's text that cannot end the block early: a zero-width space splits every ```. */
const fence = (text: string) => text.replace(/```/g, '`\u200b``');

/** Inline code for any text: backticks in it get a longer fence. */
function inline(text: string): string {
  if (!text) return '';
  if (!text.includes('`')) return `\`${text}\``;
  return `\`\` ${text.replace(/``/g, '`\u200b`')} \`\``;
}

/** Plain text that formats nothing: masked links, headings, lists and quotes too. */
const plain = (text: string) =>
  escapeMarkdown(text, { maskedLink: true, heading: true, bulletedList: true, numberedList: true }).replace(/^>/gm, '\\>');

/** The core's text as Discord Markdown: plain text escaped, so nothing a user wrote formats, links or pings. */
export function toMarkdown(text: Rich | string): string {
  return asRich(text)
    .map((s) => {
      if (typeof s === 'string') return plain(s);
      if ('b' in s) return `**${plain(s.b)}**`;
      if ('i' in s) return `*${plain(s.i)}*`;
      if ('code' in s) return inline(s.code);
      if ('pre' in s) return `\`\`\`\n${fence(s.pre)}\n\`\`\``;
      // <…> around the address: no embed is made from it.
      return `[${plain(s.link).replace(/[[\]]/g, '')}](<${s.href.replace(/[<>\s]/g, encodeURIComponent)}>)`;
    })
    .join('');
}

/** Rows of at most 5 buttons, at most 5 rows: the core's rows, refolded when there are more. */
export function buttonRows(buttons: Button[][]): Button[][] {
  if (buttons.length <= ROWS && buttons.every((r) => r.length <= PER_ROW)) return buttons.filter((r) => r.length > 0);
  const all = buttons.flat().slice(0, ROWS * PER_ROW);
  const rows: Button[][] = [];
  for (let n = 0; n < all.length; n += PER_ROW) rows.push(all.slice(n, n + PER_ROW));
  return rows;
}

/** What Discord is like for the core. Bots may send 10 MB files where the server has no boost. */
export function discordInfo(): FrontEndInfo {
  return {
    name: 'discord',
    title: 'Discord',
    messageLimit: MESSAGE_LIMIT,
    renderedLength: (text) => toMarkdown(text).length,
    blockLimit: BLOCK_LIMIT,
    charCost: (c) => (c === '`' ? 2 : 1),
    // Discord's limit counts the Markdown sent: plain text's punctuation may get a backslash.
    textCost: (c) => (/[!-/:-@[-`{-~]/.test(c) ? 2 : 1),
    maxSendBytes: 10 * MB,
    maxFetchBytes: 25 * MB,
    // Edits of one interaction's messages share a bucket of 5 per 5 s: one every 1.5 s leaves room for the rest.
    editIntervalMs: 1500,
  };
}
