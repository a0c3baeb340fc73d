import { BerthError } from '../../errors.js';
import type { Home } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { LANDING_PATH, webPublicUrl } from '../../values/web-paths.js';
import { checkSnapshotId, homeFor, listSnapshots, type SnapshotView } from '../backups/backups.js';
import { checkSelfBackups, ownSnapshot } from '../backups/self-service.js';
import { callDaemon } from '../control/daemon-control.js';
import { type BackupLink, ROUTES } from '../control/daemon-routes.js';
import type { Berth } from '../core/context.js';
import { findHome } from '../vm/homes.js';
import { isOperatorViewer, OPERATOR_VIEWER } from './recording-links.js';
import type { TicketBook, WebIdentity } from './web-links.js';

export type { BackupLink };

/**
 * One-time links that download a snapshot of a home as a `.tar.gz`: a user's own (the chat's
 * Download button, where their plan has backupSelf), or any, for the operator
 * (`berth home backups HOME --download SNAPSHOT`). The link's ticket names the home and the
 * snapshot; spending it gives the browser a short grant for that one download's path.
 */

const webOff = () =>
  new BerthError(
    'WEB_DISABLED',
    'The web server is turned off on this host, so snapshots cannot be downloaded in a browser.',
    'Turn the web server on: berth config set web.enabled on',
  );

const noSnapshot = (home: string, id: string) =>
  new BerthError('SNAPSHOT_NOT_FOUND', `Home ${home} has no snapshot ${id}.`, `See its snapshots: berth home backups ${home}`);

/**
 * Whether `who` may download snapshot `snapshot` of home `homeId` now (a link minted or spent, the
 * download asked for): the operator any snapshot of the home; a user only their own (of the home
 * they own, taken while it was theirs), while allowed and while their plan has backupSelf.
 */
export async function checkBackupViewer(
  ctx: Berth,
  who: WebIdentity,
  homeId: string,
  snapshot: string,
): Promise<{ home: Home; snapshot: SnapshotView }> {
  const id = checkSnapshotId(snapshot);
  const state = await ctx.store.snapshot();
  if (isOperatorViewer(who)) {
    const home = findHome(state, homeId);
    const found = (await listSnapshots(ctx, { home: home.id })).find((s) => s.id === id || s.longId === id);
    if (!found) throw noSnapshot(home.id, id);
    return { home, snapshot: found };
  }
  const user = checkSelfBackups(state, who.userId);
  const home = state.homes.find((h) => h.id === homeId && h.owner === user.id);
  if (!home) throw new BerthError('SNAPSHOT_NOT_FOUND', `You have no snapshot ${id}.`, 'Your snapshots: /backups');
  return { home, snapshot: await ownSnapshot(ctx, user, home, id) };
}

/**
 * A one-time link that downloads snapshot `snapshot` of home `homeId`. `viewer` null: the
 * operator; otherwise a user, for one of their own snapshots only (checkBackupViewer).
 */
export async function backupWebLink(
  ctx: Berth,
  book: TicketBook,
  target: { home: string; snapshot: string },
  viewer: { userId: string; login: string } | null,
): Promise<BackupLink> {
  const state = await ctx.store.snapshot();
  const cfg = effectiveConfig(state.config);
  if (!cfg['web.enabled']) throw webOff();
  let who = OPERATOR_VIEWER;
  if (viewer) {
    const user = checkSelfBackups(state, viewer.userId);
    who = { userId: user.id, login: user.login, role: user.role };
  }
  const found = await checkBackupViewer(ctx, who, target.home, target.snapshot);
  const { token, expiresAt } = book.mint(
    who,
    '',
    { kind: 'backup', home: found.home.id, snapshot: found.snapshot.id },
    cfg['web.ticket-rate'],
  );
  return {
    url: `${webPublicUrl(cfg)}${LANDING_PATH}#${token}`,
    expiresAt: new Date(expiresAt).toISOString(),
    home: found.home.id,
    snapshot: found.snapshot.id,
  };
}

/** The operator's download link (CLI): the home found here, the running daemon mints the link (tickets live in its memory). */
export async function requestBackupLink(ctx: Berth, ref: string, snapshot: string): Promise<BackupLink> {
  const id = checkSnapshotId(snapshot);
  const home = homeFor(await ctx.store.read(), ref);
  return callDaemon(
    ctx.store.home,
    ROUTES.backupLink,
    { body: { home: home.id, snapshot: id } },
    { timeoutMs: 30_000, needs: 'it serves the web pages and keeps their links' },
  );
}
