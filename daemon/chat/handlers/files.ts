import { BerthError } from '../../../src/errors.js';
import { downloadFromVm, uploadToVm } from '../../../src/services/vm/vm-files.js';
import type { Handler } from '../handler.js';
import { code } from '../message.js';
import { loginOf, pickVm, usage } from '../sender.js';
import type { Incoming, Turn } from '../turn.js';

const mb = (bytes: number) => `${Math.floor(bytes / (1024 * 1024))} MB`;

/** A file the sender sent, fetched within what the front-end lets the bot fetch. */
export async function fetchIncoming(turn: Turn, file: Incoming): Promise<Buffer> {
  const max = turn.frontEnd.maxFetchBytes;
  const tooLarge = () =>
    new BerthError(
      'FILE_TOO_LARGE',
      `That file is larger than ${turn.frontEnd.title} lets bots fetch (${mb(max)}).`,
      'Use scp or sftp through the SSH gateway (/ssh).',
    );
  if (file.size !== undefined && file.size > max) throw tooLarge();
  const data = await file.fetch();
  if (data.length > max) throw tooLarge();
  return data;
}

const upload: Handler = async (turn, core) => {
  const login = loginOf(turn);
  if (!turn.attachment) {
    throw usage(
      'There is no file to upload.',
      turn.account.frontEnd === 'telegram'
        ? 'Send a document with the caption /upload [folder], or reply /upload [folder] to a document.'
        : 'Attach the file to /upload (its file option).',
    );
  }
  const ref = pickVm(turn.sender.state, login, turn.args.vm?.trim() || undefined);
  const data = await fetchIncoming(turn, turn.attachment);
  const saved = await uploadToVm(
    core.deps.ctx,
    ref,
    { dir: turn.args.dir?.trim() || undefined, name: turn.attachment.name || 'upload.bin', data },
    turn.sender.actor,
  );
  await turn.reply({ text: ['📥 Saved ', code(saved.path), ` (${saved.bytes} bytes).`] });
};

const download: Handler = async (turn, core) => {
  const path = turn.args.path?.trim();
  if (!path) throw usage('Give the path of a file or folder in your VM.', 'For example: /download notes.txt');
  const ref = pickVm(turn.sender.state, loginOf(turn), turn.args.vm?.trim() || undefined);
  const file = await downloadFromVm(core.deps.ctx, ref, path, turn.frontEnd.maxSendBytes, turn.sender.actor);
  await turn.reply({
    text: '',
    file: { name: file.name, data: file.data, caption: file.kind === 'directory' ? `${file.name}: the folder as a .tar.gz` : undefined },
  });
};

export const fileHandlers: Record<string, Handler> = { upload, download };
