import { type Composer, InputFile } from 'grammy';
import { BerthError } from '../../src/errors.js';
import { downloadFromVm, uploadToVm } from '../../src/services/vm/vm-files.js';
import { argsOf, type BotContext, type BotDeps, loginOf } from './bot-context.js';
import { code } from './replies.js';
import { pickVm, vmArg } from './vm-commands.js';

const mb = (bytes: number) => `${Math.floor(bytes / (1024 * 1024))} MB`;

/** Fetches a file users sent the bot, from the Bot API server in use. */
async function fetchDocument(ctx: BotContext, deps: BotDeps, fileId: string): Promise<Buffer> {
  const file = await ctx.api.getFile(fileId).catch((err: Error) => {
    if (/too big/i.test(err.message)) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        `That file is larger than the Bot API lets bots fetch (${mb(deps.maxFetchBytes)}).`,
        'Use scp or sftp through the SSH gateway (/ssh).',
      );
    }
    throw err;
  });
  if (!file.file_path) throw new BerthError('FILE_UNAVAILABLE', 'Telegram did not make that file available.', 'Send it again.');
  const response = await fetch(`${deps.apiRoot}/file/bot${deps.token}/${file.file_path}`);
  if (!response.ok)
    throw new BerthError('FILE_UNAVAILABLE', `The Bot API server answered ${response.status} for that file.`, 'Send it again.');
  return Buffer.from(await response.arrayBuffer());
}

export function fileCommands(bot: Composer<BotContext>, deps: BotDeps): void {
  const upload = async (ctx: BotContext, dir: string) => {
    const login = loginOf(ctx);
    if (!ctx.msg) return;
    const document = ctx.msg.document ?? ctx.msg.reply_to_message?.document;
    if (!document) {
      throw new BerthError(
        'USAGE',
        'There is no file to upload.',
        'Send a document with the caption /upload [folder], or reply /upload [folder] to a document.',
      );
    }
    if (document.file_size !== undefined && document.file_size > deps.maxFetchBytes) {
      throw new BerthError(
        'FILE_TOO_LARGE',
        `That file is larger than the Bot API lets bots fetch (${mb(deps.maxFetchBytes)}).`,
        'Use scp or sftp through the SSH gateway (/ssh).',
      );
    }
    const { vm, rest } = vmArg(dir);
    const ref = pickVm(ctx.berth.state, login, vm);
    const data = await fetchDocument(ctx, deps, document.file_id);
    const saved = await uploadToVm(
      deps.ctx,
      ref,
      { dir: rest || undefined, name: document.file_name ?? 'upload.bin', data },
      ctx.berth.actor,
    );
    await ctx.reply(`📥 Saved ${code(saved.path)} (${saved.bytes} bytes).`, { parse_mode: 'HTML' });
  };
  bot.command('upload', (ctx) => upload(ctx, argsOf(ctx)));
  // grammY does not match commands in captions: a document captioned "/upload dir" comes here.
  bot.on('message:document', async (ctx, next) => {
    const caption = ctx.msg.caption?.match(/^\/upload(?:@\w+)?(?:\s+([\s\S]*))?$/);
    if (!caption) return next();
    await upload(ctx, (caption[1] ?? '').trim());
  });

  bot.command('download', async (ctx) => {
    const { vm, rest: path } = vmArg(argsOf(ctx));
    if (!path) throw new BerthError('USAGE', 'Give the path of a file or folder in your VM.', 'For example: /download notes.txt');
    const ref = pickVm(ctx.berth.state, loginOf(ctx), vm);
    const file = await downloadFromVm(deps.ctx, ref, path, deps.maxSendBytes, ctx.berth.actor);
    await ctx.replyWithDocument(new InputFile(file.data, file.name), {
      caption: file.kind === 'directory' ? `${file.name}: the folder as a .tar.gz` : undefined,
    });
  });
}
