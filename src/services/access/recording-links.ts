import { BerthError } from '../../errors.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { LANDING_PATH, webPublicUrl } from '../../values/web-paths.js';
import { callDaemon } from '../control/daemon-control.js';
import { type RecordingLink, ROUTES } from '../control/daemon-routes.js';
import type { Berth } from '../core/context.js';
import { checkRecordingId, checkSelfRecordings, findRecording, type RecordingView } from './recordings.js';
import type { TicketBook, WebIdentity } from './web-links.js';

export type { RecordingLink };

/**
 * Who an operator's replay ticket is for. Not a user: its login holds a character no login may
 * have, and the web server never makes a browser session of it (a replay ticket only ever opens
 * its one recording).
 */
export const OPERATOR_VIEWER: WebIdentity = { userId: 'operator', login: '@operator', role: 'admin' };

/** Whether a ticket's or a replay grant's viewer is the operator (no user's login holds an @). */
export const isOperatorViewer = (who: WebIdentity) => who.userId === OPERATOR_VIEWER.userId && who.login === OPERATOR_VIEWER.login;

/**
 * A one-time link to a recording's replay page. `viewer` null: the operator (any recording);
 * otherwise a user, for one of their own recordings only, where sessions.record-self allows it.
 */
export async function recordingWebLink(
  ctx: Berth,
  book: TicketBook,
  id: string,
  viewer: { userId: string; login: string } | null,
): Promise<RecordingLink> {
  const state = await ctx.store.snapshot();
  const cfg = effectiveConfig(state.config);
  if (!cfg['web.enabled']) {
    throw new BerthError(
      'WEB_DISABLED',
      'The web server is turned off on this host, so recordings cannot be replayed in a browser.',
      'Replay it in the terminal (berth sessions replay ID), or turn the web server on: berth config set web.enabled on',
    );
  }
  let who = OPERATOR_VIEWER;
  if (viewer) {
    checkSelfRecordings(state);
    const user = state.users.find((u) => u.id === viewer.userId && u.status === 'allowed');
    if (!user) throw new BerthError('USER_NOT_ALLOWED', `${viewer.login} is not an allowed user.`, 'Ask an admin for access.');
    who = { userId: user.id, login: user.login, role: user.role };
  }
  await findRecording(ctx.store.home, id, viewer ? { userId: viewer.userId } : undefined);
  const { token, expiresAt } = book.mint(who, '', { kind: 'recording', id }, cfg['web.ticket-rate']);
  return { url: `${webPublicUrl(cfg)}${LANDING_PATH}#${token}`, expiresAt: new Date(expiresAt).toISOString(), recording: id };
}

/**
 * Whether `who` may watch recording `id` now (a replay link spent, the page and its cast asked
 * for): the operator any recording; a user only their own, while allowed and while
 * sessions.record-self is on. The recording, or the BerthError saying why not.
 */
export async function checkReplayViewer(ctx: Berth, who: WebIdentity, id: string): Promise<RecordingView & { path: string }> {
  checkRecordingId(id);
  if (isOperatorViewer(who)) return findRecording(ctx.store.home, id);
  const state = await ctx.store.snapshot();
  checkSelfRecordings(state);
  if (!state.users.some((u) => u.id === who.userId && u.status === 'allowed'))
    throw new BerthError('USER_NOT_ALLOWED', `${who.login} is no longer an allowed user.`, 'Ask an admin for access.');
  return findRecording(ctx.store.home, id, { userId: who.userId });
}

/** The operator's replay link (CLI): the running daemon mints it (tickets live in its memory). */
export async function requestRecordingLink(home: string, id: string): Promise<RecordingLink> {
  checkRecordingId(id);
  return callDaemon(
    home,
    ROUTES.recordingLink,
    { body: { id } },
    { timeoutMs: 5000, needs: 'it serves the web pages and keeps their links' },
  );
}

/** `berth sessions replay ID --web`: a one-time link to the recording's replay page, for the operator. */
export async function replayWebLink(home: string, id: string): Promise<RecordingLink> {
  return requestRecordingLink(home, id);
}
