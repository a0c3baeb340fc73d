import { appRef, checkAppName } from '../../../src/domain/apps.js';
import { BerthError } from '../../../src/errors.js';
import { appWebLink } from '../../../src/services/access/user-app-web.js';
import { appLogText, describeSource, getApp, listApps, removeApp, restartApp, startApp, stopApp } from '../../../src/services/apps/apps.js';
import type { App } from '../../../src/state/schema.js';
import { formatDuration } from '../../../src/values/durations.js';
import { printable } from '../../../src/values/names.js';
import { appView } from '../../../src/views/app-view.js';
import { APP_LOG_LINES } from '../commands.js';
import type { ButtonHandler, CoreAccess, Handler } from '../handler.js';
import { type Button, b, code, link as linkSpan, type Message, type Span } from '../message.js';
import { sendOutput } from '../output.js';
import { loginOf, usage } from '../sender.js';
import type { Turn } from '../turn.js';

/** The most characters of output /applogs reads (the newest kept); past what fits a message it comes as a file. */
const LOG_CHARS = 256 * 1024;

const STATUS: Record<App['status'], string> = {
  building: '🔨 building',
  starting: '⏳ starting',
  running: '🟢 running',
  restarting: '🔁 restarting after a crash',
  stopped: '⚪ stopped',
  crashed: '🔴 crashed',
  failed: '❌ failed',
};

const UP: ReadonlySet<App['status']> = new Set(['running', 'starting', 'restarting']);

/** How long ago `iso` was: `42s`, `5m`, `2h10m`. */
function age(iso: string | undefined | null): string {
  if (!iso) return '—';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 60 ? `${seconds}s` : formatDuration(seconds - (seconds % 60));
}

/** Since when the app is in its state: up since its start, down since its stop. */
function sinceLine(app: App): string {
  if (UP.has(app.status) && app.startedAt) return `up ${age(app.startedAt)}`;
  if (app.stoppedAt && !UP.has(app.status)) return `down ${age(app.stoppedAt)}${app.stopReason ? ` (${app.stopReason})` : ''}`;
  return `deployed ${age(app.deployedAt)} ago`;
}

/**
 * The apps service's hints name CLI commands; in chat, the commands of the chat. The message
 * stays as the service wrote it.
 */
export function inChat(err: unknown): unknown {
  if (!(err instanceof BerthError)) return err;
  const hint = (text: string) => new BerthError(err.code, err.message, text);
  switch (err.code) {
    case 'APP_NOT_FOUND':
      return hint('Your apps: /apps');
    case 'APP_SECRET_MISSING': {
      const name = /the secret "([^"]+)"/.exec(err.message)?.[1] ?? 'NAME';
      return hint(`Set it: /setkey ${name} VALUE, then start the app again (/app).`);
    }
    case 'APP_LIMIT':
      return hint('Remove one of your apps first: /apps, open one, Remove.');
    case 'APP_NOT_RUNNING':
      return hint('Deploy it (/deploy) or start it (/app NAME, Start).');
    default:
      return err;
  }
}

/** Runs `work`, its errors with chat hints. */
export async function chatHints<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw inChat(err);
  }
}

/** The app's details: state, source, image, restarts, port, secrets, limits. */
export function appDetails(app: App): Span[] {
  const view = appView(app, describeSource(app.source));
  const out: Span[] = [b(app.name), ` — ${STATUS[app.status]} · ${sinceLine(app)}`];
  const language = view.source.runtime ? ` (${view.source.runtime}, runs ${view.source.entrypoint})` : '';
  out.push(`\nSource: ${view.source.description}${language}`);
  out.push(
    `\nImage: ${app.image ? `built ${age(app.build?.at ?? app.deployedAt)} ago${app.build ? ` in ${app.build.seconds} s` : ''}` : 'not built yet'}`,
  );
  if (app.build && app.build.outcome !== 'ok') out.push(`\nLast build: ${app.build.outcome} ${age(app.build.at)} ago`);
  out.push(`\nRestarts: ${app.restarts}${app.lastExitCode !== undefined ? ` · last exit code ${app.lastExitCode}` : ''}`);
  if (app.oomKilledAt) out.push(`\nOut of memory ${age(app.oomKilledAt)} ago`);
  if (view.port !== null) out.push(`\nPort: ${view.port}`);
  if (view.secrets.length)
    out.push(
      `\nSecrets: ${view.secrets.map((s) => (s.env === s.name.toUpperCase().replace(/-/g, '_') ? s.name : `${s.env}=${s.name}`)).join(', ')}`,
    );
  const env = Object.keys(view.env);
  if (env.length) out.push(`\nVariables: ${env.join(', ')}`);
  out.push(
    `\nLimits: ${view.cpu} CPU · ${view.ram} RAM · ${view.pids} processes${view.lifetimeSeconds ? ` · runs at most ${view.lifetime}` : ''}`,
  );
  if (view.stopsAt) out.push(`\nStops at ${view.stopsAt.slice(0, 16).replace('T', ' ')} UTC (its plan's lifetime)`);
  return out;
}

/** The app's buttons: logs; stop and restart, or start; remove. */
export function appButtons(app: App): Button[][] {
  const n = app.name;
  const row: Button[] = [];
  if (app.containerId) row.push({ label: '📜 Logs', data: `app:${n}:logs` });
  if (UP.has(app.status)) row.push({ label: '🔁 Restart', data: `app:${n}:restart` }, { label: '⏹ Stop', data: `app:${n}:stop` });
  else if (app.status !== 'building' && app.image) row.push({ label: '▶️ Start', data: `app:${n}:start` });
  const rows = [row];
  // An app serving HTTP: a one-time link into its own address (its owner only).
  if (app.port && app.status === 'running') rows.push([{ label: '🌐 Open', data: `app:${n}:open` }]);
  if (app.status !== 'building') rows.push([{ label: '🗑 Remove', data: `app:${n}:remove` }]);
  return rows.filter((r) => r.length > 0);
}

export const detailsMessage = (app: App, note: Span[] = []): Message => ({
  text: [...note, ...(note.length ? ['\n\n'] : []), ...appDetails(app)],
  buttons: appButtons(app),
});

/** The sender's app `name` (never another user's: the name is looked up among theirs). */
async function ownApp(turn: Turn, core: CoreAccess, name: string): Promise<App> {
  loginOf(turn);
  return chatHints(() => getApp(core.deps.ctx, checkAppName(name), turn.sender.actor));
}

/** A one-time link into the sender's app's own address (web.apps-domain), good once, within 60 s. */
async function openApp(turn: Turn, core: CoreAccess, name: string): Promise<void> {
  const app = await ownApp(turn, core, name);
  const web = core.deps.web;
  if (!web?.running()) throw new BerthError('WEB_NOT_RUNNING', 'The web server is not available on this host now.', 'Ask the operator.');
  const made = await appWebLink(core.deps.ctx, web.book, app.user, app.name);
  core.deps.log.info({ user: app.user, app: made.app, frontEnd: turn.account.frontEnd }, 'app web link given');
  await turn.reply({
    text: ['🔗 ', linkSpan(`Open ${app.name}`, made.url), '\nThe link works once, within 60 seconds.', `\nIts address: ${made.address}`],
    noPreview: true,
  });
}

/** An app's last `lines` lines of output in a block, or as a file when they do not fit. */
async function replyLogs(turn: Turn, core: CoreAccess, name: string, lines: number): Promise<void> {
  const app = await ownApp(turn, core, name);
  const text = await chatHints(() => appLogText(core.deps.ctx, appRef(app), lines, turn.sender.actor, LOG_CHARS));
  await sendOutput(turn, {
    title: [`Last ${lines} lines of `, code(app.name), ':'],
    output: Buffer.from(text, 'utf8'),
    fileName: `${app.name}.log`,
  });
}

const apps: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const mine = await listApps(core.deps.ctx, { user: login }, turn.sender.actor);
  if (mine.length === 0) {
    await turn.reply({
      text: [
        'You have no apps yet. Deploy one with ',
        code('/deploy NAME'),
        turn.account.frontEnd === 'telegram'
          ? ' as the caption of a .py file or an archive, or with a git URL or a folder of your VM.'
          : ' and a .py file or an archive attached, or a git URL or a folder of your VM as its source.',
      ],
    });
    return;
  }
  const text: Span[] = [b('Your apps')];
  for (const app of mine) text.push(`\n• ${app.name} — ${STATUS[app.status]} · ${app.restarts} restarts · ${sinceLine(app)}`);
  await turn.reply({ text, buttons: mine.slice(0, 20).map((app) => [{ label: app.name, data: `app:${app.name}` }]) });
};

const app: Handler = async (turn, core) => {
  const name = turn.args.name?.trim().toLowerCase();
  if (!name) throw usage('Name the app.', 'For example: /app mybot (/apps lists yours)');
  await turn.reply(detailsMessage(await ownApp(turn, core, name)));
};

const applogs: Handler = async (turn, core) => {
  const name = turn.args.name?.trim().toLowerCase();
  if (!name) throw usage('Name the app.', 'For example: /applogs mybot 50');
  const arg = turn.args.lines?.trim() ?? '';
  const n = arg ? Number(arg) : APP_LOG_LINES.default;
  if (!Number.isInteger(n) || n < 1 || n > APP_LOG_LINES.max)
    throw usage(
      `"${printable(arg.slice(0, 40))}" is not a line count.`,
      `Give a number from 1 to ${APP_LOG_LINES.max}, e.g. /applogs ${name} 50`,
    );
  await replyLogs(turn, core, name, n);
};

export const appHandlers: Record<string, Handler> = { apps, app, applogs };

const NAME = '[a-z][a-z0-9-]{0,31}';

const CONFIRM = {
  stop: { question: (n: string) => `Stop ${n}? It stays stopped until you start it.`, yes: 'Yes, stop' },
  restart: { question: (n: string) => `Restart ${n}? Its process is stopped and started again.`, yes: 'Yes, restart' },
  remove: {
    question: (n: string) => `Remove ${n}? Its container and image are deleted; deploy it again to get it back.`,
    yes: 'Yes, remove',
  },
} as const;

export const appButtonHandlers: ButtonHandler[] = [
  {
    // The app's details (from /apps, or Cancel of a question).
    pattern: new RegExp(`^app:(${NAME})$`),
    run: async (turn, match, core) => {
      const message = detailsMessage(await ownApp(turn, core, match[1] ?? ''));
      if (turn.pressed) await turn.pressed.edit(message);
      else await turn.reply(message);
    },
  },
  {
    // An action; stop, restart and remove ask first (their "yes" ends with "!").
    pattern: new RegExp(`^app:(${NAME}):(logs|open|start|stop|restart|remove)(!?)$`),
    run: async (turn, match, core) => {
      const [, name = '', action = '', sure] = match;
      if (action === 'logs') return replyLogs(turn, core, name, APP_LOG_LINES.default);
      if (action === 'open') return openApp(turn, core, name);
      const app = await ownApp(turn, core, name);
      const shown = turn.pressed ?? (await turn.reply('…'));
      if (action !== 'start' && !sure) {
        const ask = CONFIRM[action as keyof typeof CONFIRM];
        await shown.edit({
          text: ask.question(app.name),
          buttons: [
            [
              { label: ask.yes, data: `app:${app.name}:${action}!` },
              { label: 'Cancel', data: `app:${app.name}` },
            ],
          ],
        });
        return;
      }
      const { ctx } = core.deps;
      const { actor } = turn.sender;
      const ref = appRef(app);
      const doing = { start: 'Starting', stop: 'Stopping', restart: 'Restarting', remove: 'Removing' }[action] ?? action;
      await shown.edit({ text: `⏳ ${doing} ${app.name}…`, buttons: [] });
      try {
        if (action === 'remove') {
          await chatHints(() => removeApp(ctx, ref, actor));
          await shown.edit({ text: `🗑 ${app.name} was removed: its container and image are gone.`, buttons: [] });
          return;
        }
        const done = await chatHints(() =>
          action === 'start' ? startApp(ctx, ref, actor) : action === 'stop' ? stopApp(ctx, ref, actor) : restartApp(ctx, ref, actor),
        );
        const note = { start: '▶️ Started.', stop: '⏹ Stopped.', restart: '🔁 Restarted.' }[action] ?? '';
        await shown.edit(detailsMessage(done, [note]));
      } catch (err) {
        // The question is gone either way: show the app as it is now, the error follows.
        const now = await getApp(ctx, ref, actor).catch(() => null);
        await shown.edit(now ? detailsMessage(now) : { text: `${app.name}`, buttons: [] }).catch(() => undefined);
        throw err;
      }
    },
  },
];
