import { BerthError } from '../../errors.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { LANDING_PATH, webPublicUrl } from '../../values/web-paths.js';
import type { Berth } from '../core/context.js';
import { checkSelfRecordings, findRecording } from './recordings.js';
import type { TicketBook, WebIdentity } from './web-links.js';

/** A replay link as the CLI (`berth sessions replay ID --web`) and chat (/replay ID) give it. */
export interface RecordingLink {
  url: string;
  expiresAt: string;
  recording: string;
}

/**
 * Who an operator's replay ticket is for. Not a user: its login holds a character no login may
 * have, and the web server never makes a browser session of it (a replay ticket only ever opens
 * its one recording).
 */
export const OPERATOR_VIEWER: WebIdentity = { userId: 'operator', login: '@operator', role: 'admin' };

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
