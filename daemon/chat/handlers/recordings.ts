import { recordingNoticeFor } from '../../../src/domain/recording.js';
import { BerthError } from '../../../src/errors.js';
import { recordingWebLink } from '../../../src/services/access/recording-links.js';
import { checkRecordingId, checkSelfRecordings, findRecording, listRecordingViews } from '../../../src/services/access/recordings.js';
import type { User } from '../../../src/state/schema.js';
import { effectiveConfig } from '../../../src/values/config-keys.js';
import { formatDuration, utcMinute } from '../../../src/values/durations.js';
import { printable } from '../../../src/values/names.js';
import { formatUsage } from '../../../src/values/sizes.js';
import type { ButtonHandler, CoreAccess, Handler } from '../handler.js';
import { b, code, link as linkSpan, type Span } from '../message.js';
import { loginOf, nameOf, usage } from '../sender.js';
import type { Turn } from '../turn.js';

/** The most recordings /recordings lists: the newest. */
const SHOWN = 10;

/**
 * What /status and /help tell a person whose sessions are recorded: the notice their SSH and web
 * terminal sessions start with (and /recordings, where they may replay their own); nothing for
 * one who is not recorded.
 */
export function recordingNote(turn: Turn): Span[] {
  const user = turn.sender.identity.user;
  if (user?.status !== 'allowed') return [];
  const { state } = turn.sender;
  const notice = recordingNoticeFor(state, user);
  if (!notice) return [];
  const cfg = effectiveConfig(state.config);
  const self = cfg['sessions.record-self'];
  return [
    cfg['sessions.record-exec']
      ? '🔴 Your SSH and web terminal sessions, and the output of /exec, are recorded. Each session starts with:\n'
      : '🔴 Your SSH and web terminal sessions are recorded. Each starts with:\n',
    notice,
    ...(self ? ['\n/recordings lists yours; replay one in your browser.'] : []),
  ];
}

/** The recordings service's hints name CLI commands; in chat, /recordings. The message stays. */
function inChat(err: unknown): unknown {
  if (!(err instanceof BerthError)) return err;
  if (err.code === 'RECORDING_NOT_FOUND' || err.code === 'INVALID_RECORDING_ID')
    return new BerthError(err.code, err.message, 'Your recordings: /recordings (each has a Replay button).');
  if (err.code === 'WEB_DISABLED') return new BerthError(err.code, err.message, 'Ask the operator to turn the web server on.');
  return err;
}

/** The sender, allowed, and allowed to see their own recordings (sessions.record-self). */
function recordedUser(turn: Turn): User {
  loginOf(turn);
  checkSelfRecordings(turn.sender.state);
  return turn.sender.identity.user as User;
}

const seconds = (n: number) => (n === 0 ? '0s' : formatDuration(n));

const recordings: Handler = async (turn, core) => {
  const user = recordedUser(turn);
  const all = await listRecordingViews(core.deps.ctx.store.home, { userId: user.id });
  if (all.length === 0) {
    const recorded = recordingNoticeFor(turn.sender.state, user) !== null;
    await turn.reply(
      recorded
        ? 'You have no recorded sessions yet: your next SSH or web terminal session will be one.'
        : 'You have no recorded sessions, and your sessions are not recorded now.',
    );
    return;
  }
  const shown = all.slice(0, SHOWN);
  const text: Span[] = [b('Your recorded sessions'), all.length > SHOWN ? ` (the newest ${SHOWN} of ${all.length})` : '', ', newest first'];
  for (const r of shown) {
    const via = r.command ? `${r.via}, ${printable(r.command, 40)}` : r.via;
    text.push(
      `\n• ${utcMinute(r.startedAt)} · ${nameOf(r.vm)} · ${via} · ${seconds(r.seconds)} · ${formatUsage(r.bytes)} · ${r.input ? 'with what you typed' : 'output only'} · id `,
      code(r.id),
    );
  }
  text.push('\nReplay one in your browser with its button, or /replay ID.');
  await turn.reply({
    text,
    buttons: shown.map((r) => [{ label: `▶️ ${utcMinute(r.startedAt).slice(5, 16)} ${nameOf(r.vm)}`.slice(0, 60), data: `rec:${r.id}` }]),
  });
};

/** A one-time link to replay the sender's own recording `id` in the browser. Private like every reply. */
async function replay(turn: Turn, core: CoreAccess, id: string): Promise<void> {
  const user = recordedUser(turn);
  const owner = { userId: user.id };
  const found = await findRecording(core.deps.ctx.store.home, checkRecordingId(id), owner).catch((err: unknown) => {
    throw inChat(err);
  });
  const web = core.deps.web;
  if (!web?.running())
    throw new BerthError(
      'WEB_NOT_RUNNING',
      'The web server is not available on this host now, so recordings cannot be replayed.',
      'Ask the operator.',
    );
  const made = await recordingWebLink(core.deps.ctx, web.book, found.id, { userId: user.id, login: user.login }).catch((err: unknown) => {
    throw inChat(err);
  });
  core.deps.log.info({ user: user.login, recording: made.recording, frontEnd: turn.account.frontEnd }, 'recording link given');
  await turn.reply({
    text: [
      '🔗 ',
      linkSpan(`Replay your session of ${utcMinute(found.startedAt)} on ${nameOf(found.vm)}`, made.url),
      '\nThe link works once, within 60 seconds.',
    ],
    noPreview: true,
  });
}

const replayHandler: Handler = async (turn, core) => {
  const id = turn.args.id?.trim();
  // Refused before the id is read: where replays are not offered, nothing else is said.
  recordedUser(turn);
  if (!id || turn.args._extra)
    throw usage('Give the id of one of your recordings.', 'For example: /replay 0123456789ab (/recordings lists yours)');
  await replay(turn, core, id.toLowerCase()).catch((err: unknown) => {
    throw inChat(err);
  });
};

export const recordingHandlers: Record<string, Handler> = { recordings, replay: replayHandler };

export const recordingButtons: ButtonHandler[] = [
  {
    pattern: /^rec:([0-9a-f]{12})$/,
    run: async (turn, match, core) => replay(turn, core, match[1] ?? ''),
  },
];
