import { i, type Message, pre, type Span, tailWithin } from './message.js';
import type { FrontEndInfo, Posted, Turn } from './turn.js';

export interface OutputReply {
  /** Shown above the block. */
  title: Span[];
  output: Buffer;
  /** Shown under the block (exit code…). */
  footer?: string;
  fileName: string;
}

/**
 * Program output in a monospace block; when it does not fit one message, the block shows its
 * end and the whole output comes as a file.
 */
export function outputMessage(frontEnd: FrontEndInfo, reply: OutputReply): { message: Message; attach: boolean } {
  const text = reply.output.toString('utf8');
  let size = 0;
  for (const c of text) size += frontEnd.charCost(c);
  const attach = size > frontEnd.blockLimit;
  const shown = attach ? `…\n${tailWithin(text, frontEnd.blockLimit, frontEnd.charCost)}` : text;
  const block: Span = text.trim().length > 0 ? pre(shown) : i('(no output)');
  const footer = [reply.footer, attach ? `Full output (${reply.output.length} bytes) attached.` : undefined].filter(Boolean).join('\n');
  return { message: { text: [...reply.title, '\n', block, ...(footer ? [`\n${footer}`] : [])] }, attach };
}

/** Sends program output: the block in a message (a new one, or `note` edited), and the whole output as a file when it does not fit. */
export async function sendOutput(turn: Turn, reply: OutputReply, note?: Posted): Promise<void> {
  const { message, attach } = outputMessage(turn.frontEnd, reply);
  if (note) await note.edit(message);
  else await turn.reply(message);
  if (attach) await turn.reply({ text: '', file: { name: reply.fileName, data: reply.output } });
}
