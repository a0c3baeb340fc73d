import { checkAppName } from '../../../src/domain/apps.js';
import { BerthError } from '../../../src/errors.js';
import { type DeployInput, deployApp, describeSource, type SourceInput } from '../../../src/services/apps/apps.js';
import type { App } from '../../../src/state/schema.js';
import { effectiveConfig } from '../../../src/values/config-keys.js';
import { printable } from '../../../src/values/names.js';
import { formatSize } from '../../../src/values/sizes.js';
import { isDeployOption } from '../commands.js';
import type { CoreAccess, Handler } from '../handler.js';
import { ProgressReply } from '../live-reply.js';
import { b, type Message, pre, type Span, tailWithin } from '../message.js';
import { loginOf, pickOwnVm, usage } from '../sender.js';
import type { Incoming, Turn } from '../turn.js';
import { detailsMessage, inChat } from './apps.js';

/** What the words after `/deploy NAME` say: a source (git or a VM's folder) and options. */
export interface DeployWords {
  source?: { kind: 'git'; url: string; branch: string } | { kind: 'vm'; vm?: string; path: string };
  env: string[];
  secrets: string[];
  port?: number;
}

const VM_FOLDER = /^(?:([a-z][a-z0-9-]{0,31}):)?([~/].*)$/;
const URL_WORD = /^https?:\/\//i;

const EXAMPLES =
  'For example: /deploy mybot with a .py file or an archive attached, /deploy mybot https://github.com/you/bot.git main, or /deploy mybot ~/bot';

/** The words of a /deploy after its name (source and options, in any order). */
export function parseDeployWords(words: readonly string[]): DeployWords {
  const out: DeployWords = { env: [], secrets: [] };
  for (let n = 0; n < words.length; n++) {
    const word = words[n] ?? '';
    if (isDeployOption(word)) {
      if (/^secret:/i.test(word)) out.secrets.push(word.slice('secret:'.length));
      else if (/^port:/i.test(word)) {
        const port = Number(word.slice('port:'.length));
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw usage(`"${printable(word)}" does not give a port.`, 'Write the port your app listens on as port:8080 (1–65535).');
        out.port = port;
      } else out.env.push(word);
      continue;
    }
    const vm = URL_WORD.test(word) ? null : VM_FOLDER.exec(word);
    if (!URL_WORD.test(word) && !vm)
      throw usage(`"${printable(word.slice(0, 80))}" is neither a source nor an option of /deploy.`, EXAMPLES);
    if (out.source) throw usage('Give one source: a git URL, a folder of your VM, or an attached file.', EXAMPLES);
    if (vm) {
      out.source = { kind: 'vm', ...(vm[1] ? { vm: vm[1] } : {}), path: vm[2] ?? '' };
      continue;
    }
    // The word after the URL, when it is neither an option nor another source, is the branch.
    const next = words[n + 1];
    const branch = next && !isDeployOption(next) && !URL_WORD.test(next) && !VM_FOLDER.test(next) ? next : undefined;
    if (branch) n++;
    out.source = { kind: 'git', url: word, branch: branch ?? 'main' };
  }
  return out;
}

/** What an attached file is as an app's code: an archive, or one file to run. */
function attachedKind(file: Incoming): 'archive' | 'file' {
  if (/\.(tar\.gz|tgz|tar|zip)$/i.test(file.name)) return 'archive';
  if (/\.(py|js|mjs|cjs)$/i.test(file.name)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(file.name))
      throw new BerthError(
        'INVALID_FILE_NAME',
        `"${printable(file.name.slice(0, 80))}" is not a file name an app can run.`,
        'Name it with letters, digits, ".", "_" and "-" only, e.g. bot.py, and send it again.',
      );
    return 'file';
  }
  throw usage(
    `berth cannot deploy "${printable(file.name.slice(0, 80))}".`,
    'Attach one .py or .js file, or the code as a .tar.gz, .tgz or .zip archive.',
  );
}

/** The attached file's bytes, within apps.max-upload and what the front-end lets bots fetch. */
async function fetchCode(turn: Turn, file: Incoming, maxUpload: number): Promise<Buffer> {
  const max = Math.min(maxUpload, turn.frontEnd.maxFetchBytes);
  const tooLarge = () =>
    new BerthError(
      'FILE_TOO_LARGE',
      `That file is larger than berth takes for an app's code here (${formatSize(max)}).`,
      'Put the code in your VM (scp, /upload) and deploy the folder: /deploy NAME ~/folder',
    );
  if (file.size !== undefined && file.size > max) throw tooLarge();
  const data = await file.fetch();
  if (data.length > max) throw tooLarge();
  return data;
}

/** A deploy that failed, as its progress message ends: what, why, the last lines of a build in a block. */
function failure(turn: Turn, name: string, err: unknown): Message {
  const text: Span[] = ['❌ The deploy of ', b(name), ' failed.\n'];
  if (!(err instanceof BerthError)) {
    text.push('⚠️ Something went wrong on the server. The operator can see the details in the daemon log.');
    return { text };
  }
  const [first = '', ...rest] = err.message.split('\n');
  text.push(`⚠️ ${first}`);
  const lines = rest.join('\n').trim();
  if (lines) {
    const { frontEnd } = turn;
    const room = Math.min(frontEnd.blockLimit, frontEnd.messageLimit - 600);
    text.push('\n', pre(tailWithin(lines, room, frontEnd.charCost)));
  }
  if (err.hint) text.push(`\n${err.hint}`);
  return { text };
}

/** An existing app's options as deploy items: kept on a redeploy that does not give them. */
function keptOptions(app: App): Pick<DeployInput, 'env' | 'secrets' | 'port'> {
  return {
    env: Object.entries(app.env).map(([k, v]) => `${k}=${v}`),
    secrets: app.secrets.map((s) => `${s.env}=${s.name}`),
    ...(app.port ? { port: app.port } : {}),
  };
}

/**
 * /deploy NAME [source] [options]: checks what it can at once, then builds and starts the app in
 * the background, its progress edited into one reply that ends with the app's details (or why it
 * failed). One deploy per user at a time; the user's other commands go on meanwhile.
 */
export function deployHandler(): Handler {
  const running = new Map<string, string>();

  return async (turn: Turn, core: CoreAccess) => {
    const login = loginOf(turn);
    const given = turn.args.name?.trim();
    if (!given) throw usage('Name the app to deploy.', EXAMPLES);
    const name = checkAppName(given.toLowerCase());
    const words = parseDeployWords([turn.args.source, turn.args.options].filter(Boolean).join(' ').split(/\s+/).filter(Boolean));
    const { state } = turn.sender;
    const existing = (state.apps ?? []).find((a) => a.user === login && a.name === name);
    if (words.source && turn.attachment)
      throw usage('Give one source: an attached file, or a git URL or a folder of your VM, not both.', EXAMPLES);
    let source: Extract<SourceInput, { kind: 'git' | 'vm' }> | undefined;
    if (words.source?.kind === 'git') source = words.source;
    else if (words.source?.kind === 'vm') {
      const { path } = words.source;
      const vm = pickOwnVm(state, login, words.source.vm, (n) => `/deploy ${name} ${n}:${path}`);
      source = { kind: 'vm', vm: vm.name, path };
    } else if (!turn.attachment && existing && (existing.source.kind === 'git' || existing.source.kind === 'vm')) {
      // A redeploy without a source takes the code again from where it came from.
      const s = existing.source;
      source =
        s.kind === 'git'
          ? { kind: 'git', url: s.url ?? '', branch: s.branch ?? 'main' }
          : { kind: 'vm', vm: s.vm ?? '', path: s.path ?? '' };
    }
    const kind = turn.attachment ? attachedKind(turn.attachment) : undefined;
    if (!source && !turn.attachment)
      throw usage(
        turn.account.frontEnd === 'telegram'
          ? 'Give the code: send the file or archive with /deploy NAME as its caption (or reply /deploy NAME to it), or add a git URL or a folder of your VM.'
          : 'Give the code: attach the file or archive (the file option), or a git URL or a folder of your VM (the source option).',
        EXAMPLES,
      );
    const kept = existing ? keptOptions(existing) : { env: [], secrets: [] };
    const options: Pick<DeployInput, 'env' | 'secrets' | 'port'> = {
      env: words.env.length ? words.env : kept.env,
      secrets: words.secrets.length ? words.secrets : kept.secrets,
      ...((words.port ?? kept.port) ? { port: words.port ?? kept.port } : {}),
    };
    const busy = running.get(login);
    if (busy !== undefined) {
      await turn.reply(`⏳ Your deploy of ${busy} is still running; its message shows how far it is. Deploy again once it has ended.`);
      return;
    }
    running.set(login, name);
    const from = source ? describeSource(source) : printable(turn.attachment?.name ?? 'the file');
    const progress = new ProgressReply(
      turn,
      ['🚀 Deploying ', b(name), ` from ${from}`, existing ? ' again: the app runs on as it is until the new build is ready.' : '…'],
      (err) => core.deps.log.warn({ err: err.message, frontEnd: turn.account.frontEnd }, 'a deploy progress message could not be sent'),
    );
    // Never throws: a reply that could not be sent is told to the log, and the outcome comes as a new one.
    await progress.start();
    const work = async () => {
      try {
        let code: SourceInput | undefined = source;
        if (!code && turn.attachment) {
          const maxUpload = effectiveConfig((await core.deps.ctx.store.read()).config)['apps.max-upload'];
          const data = await fetchCode(turn, turn.attachment, maxUpload);
          code = kind === 'archive' ? { kind: 'archive', data } : { kind: 'files', files: { [turn.attachment.name]: data } };
        }
        const app = await deployApp(
          core.deps.ctx,
          {
            user: login,
            name,
            source: code as SourceInput,
            ...(kind === 'file' && turn.attachment ? { entrypoint: turn.attachment.name } : {}),
            ...options,
            replace: true,
          },
          turn.sender.actor,
          (line) => progress.line(line),
        );
        await progress.finish(
          detailsMessage(app, ['✅ Deployed ', b(name), existing ? ' again: the new build replaced the old one.' : '.']),
        );
      } catch (err) {
        if (!(err instanceof BerthError))
          core.deps.log.error({ err: (err as Error).message, user: login, app: name }, 'a deploy from chat failed');
        await progress.finish(failure(turn, name, inChat(err)));
      } finally {
        running.delete(login);
      }
    };
    void work();
  };
}
