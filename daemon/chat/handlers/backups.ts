import { BerthError } from '../../../src/errors.js';
import { backupWebLink } from '../../../src/services/access/backup-links.js';
import {
  backupOwnHome,
  checkSelfBackups,
  ownHome,
  ownSnapshot,
  ownSnapshots,
  restoreOwnHome,
  SelfBackupLimit,
} from '../../../src/services/backups/self-service.js';
import type { User, Vm } from '../../../src/state/schema.js';
import { utcMinute } from '../../../src/values/durations.js';
import { formatSize } from '../../../src/values/sizes.js';
import type { ButtonHandler, CoreAccess, Handler } from '../handler.js';
import { b, code, link as linkSpan, type Span } from '../message.js';
import { loginOf, pickOwnVm, usage } from '../sender.js';
import type { Turn } from '../turn.js';

/**
 * A person's own backups from chat, where their plan has backupSelf: /backups lists their
 * snapshots (Restore and Download buttons), /backup takes one now (a few an hour), /restore ID
 * asks first, then puts the home back. The home is always the one the sender's own VM mounts,
 * owned by the sender's user id; a snapshot id of anyone else's is answered as one that does not
 * exist. Buttons carry the snapshot and the VM's name only: a press is read as its presser's.
 */

/** The most snapshots /backups lists: the newest. */
const SHOWN = 10;

/** /backup's allowance, in the daemon's memory. */
const limit = new SelfBackupLimit();

/** The backups service's hints name CLI commands; in chat, what the person can do. The message stays. */
function inChat(err: unknown): unknown {
  if (!(err instanceof BerthError)) return err;
  switch (err.code) {
    case 'BACKUP_NO_REPOSITORY':
      return new BerthError(err.code, 'Backups are not set up on this host yet.', 'Ask the operator to set them up (berth backup init).');
    case 'RESTORE_TOO_BIG':
      return new BerthError(err.code, err.message, 'Ask the operator for a plan with a larger disk.');
    case 'BACKUP_FAILED':
      return new BerthError(
        err.code,
        err.message.split('\n')[0] ?? err.message,
        'Try again later; the operator can see why in the daemon log.',
      );
    case 'WEB_DISABLED':
      return new BerthError(err.code, err.message, 'Ask the operator to turn the web server on.');
    default:
      return err;
  }
}

/** What a failure says in place of a progress note: the error as chat shows it; ours logged. */
function refusal(err: unknown, core: CoreAccess, user: User): string {
  const shown = inChat(err);
  if (shown instanceof BerthError) return `⚠️ ${shown.message}${shown.hint ? `\n${shown.hint}` : ''}`;
  core.deps.log.warn({ err: String(err), user: user.login }, 'backup or restore from chat failed');
  return '⚠️ Something went wrong on the server. The operator can see the details in the daemon log.';
}

const rethrow = (err: unknown) => {
  throw inChat(err);
};

/** The sender (allowed, their plan offering self-service backups) and the VM they named, else their only one. */
function mine(turn: Turn, vmName: string | undefined, pick: (n: string) => string): { user: User; vm: Vm } {
  loginOf(turn);
  const user = checkSelfBackups(turn.sender.state, (turn.sender.identity.user as User).id);
  const vm = pickOwnVm(turn.sender.state, user.login, vmName, pick);
  return { user, vm };
}

const vmArgOf = (turn: Turn) => turn.args.vm?.trim() || undefined;

const backups: Handler = async (turn, core) => {
  if (turn.args._extra) throw usage('Name at most one VM.', 'For example: /backups or /backups web');
  const { user, vm } = mine(turn, vmArgOf(turn), (n) => `/backups ${n}`);
  const home = ownHome(turn.sender.state, user, vm);
  const all = await ownSnapshots(core.deps.ctx, user, home).catch(rethrow);
  if (all.length === 0) {
    await turn.reply(`Your VM ${vm.name} has no snapshots yet. Take one now with /backup${vmArgOf(turn) ? ` ${vm.name}` : ''}.`);
    return;
  }
  const shown = all.slice(0, SHOWN);
  const text: Span[] = [
    b(`Snapshots of ${vm.name}`),
    all.length > SHOWN ? ` (the newest ${SHOWN} of ${all.length})` : '',
    ', newest first',
  ];
  for (const s of shown) text.push(`\n• ${utcMinute(s.time)} · ${s.reason} · id `, code(s.id));
  text.push('\nRestore puts your files back as they were (asking first); Download gives a one-time link to a .tar.gz.');
  await turn.reply({
    text,
    buttons: shown.map((s) => [
      { label: `↩️ Restore ${utcMinute(s.time).slice(5, 16)}`, data: `bkr:${s.id}:${vm.name}` },
      { label: `⬇️ Download ${utcMinute(s.time).slice(5, 16)}`, data: `bkd:${s.id}:${vm.name}` },
    ]),
  });
};

const backup: Handler = async (turn, core) => {
  if (turn.args._extra) throw usage('Name at most one VM.', 'For example: /backup or /backup web');
  const { user, vm } = mine(turn, vmArgOf(turn), (n) => `/backup ${n}`);
  ownHome(turn.sender.state, user, vm);
  const shown = await turn.reply(`⏳ Backing up ${vm.name}…`);
  let r: Awaited<ReturnType<typeof backupOwnHome>>;
  try {
    r = await backupOwnHome(core.deps.ctx, user, vm, limit);
  } catch (err) {
    // The note becomes the refusal (the rate, no repository, a failure).
    await shown.edit(refusal(err, core, user));
    return;
  }
  core.deps.log.info(
    { user: user.login, vm: vm.name, home: r.home, snapshot: r.snapshot, frontEnd: turn.account.frontEnd },
    'backup taken from chat',
  );
  await shown.edit({
    text: [
      `✅ Snapshot `,
      code(r.snapshot),
      ` of ${vm.name}: ${r.files} files, ${formatSize(r.bytesProcessed)}, in ${r.seconds.toFixed(1)} s.\nYour snapshots: /backups`,
    ],
  });
};

/** The question before a restore: its buttons name the snapshot and the VM, nothing else. */
async function askRestore(turn: Turn, core: CoreAccess, id: string, vmName: string | undefined): Promise<void> {
  const { user, vm } = mine(turn, vmName, (n) => `/restore ${id} ${n}`);
  const home = ownHome(turn.sender.state, user, vm);
  const snapshot = await ownSnapshot(core.deps.ctx, user, home, id).catch(rethrow);
  await turn.reply({
    text: [
      `Restore ${vm.name} as it was at ${utcMinute(snapshot.time)} (snapshot `,
      code(snapshot.id),
      ')? Every file of your home is replaced; the VM is stopped meanwhile, and a snapshot of your files as they are now is taken first.',
    ],
    buttons: [
      [{ label: '↩️ Restore', data: `bkrestore:${snapshot.id}:${vm.name}:yes` }],
      [{ label: 'Cancel', data: `bkrestore:${snapshot.id}:${vm.name}:no` }],
    ],
  });
}

const restore: Handler = async (turn, core) => {
  const id = turn.args.id?.trim();
  // Refused before the id is read: where self-service backups are not offered, nothing else is said.
  mine(turn, vmArgOf(turn), (n) => `/restore ID ${n}`);
  if (!id || turn.args._extra)
    throw usage('Give the id of one of your snapshots.', 'For example: /restore 4f2a9c1e (/backups lists yours)');
  await askRestore(turn, core, id.toLowerCase(), vmArgOf(turn));
};

/** A one-time link that downloads the sender's own snapshot `id`. */
async function download(turn: Turn, core: CoreAccess, id: string, vmName: string): Promise<void> {
  const { user, vm } = mine(turn, vmName, (n) => `/backups ${n}`);
  const home = ownHome(turn.sender.state, user, vm);
  const web = core.deps.web;
  if (!web?.running())
    throw new BerthError(
      'WEB_NOT_RUNNING',
      'The web server is not available on this host now, so snapshots cannot be downloaded.',
      'Ask the operator.',
    );
  const made = await backupWebLink(core.deps.ctx, web.book, { home: home.id, snapshot: id }, { userId: user.id, login: user.login }).catch(
    rethrow,
  );
  core.deps.log.info(
    { user: user.login, home: made.home, snapshot: made.snapshot, frontEnd: turn.account.frontEnd },
    'download link given',
  );
  await turn.reply({
    text: [
      '🔗 ',
      linkSpan(`Download snapshot ${made.snapshot} of ${vm.name} (.tar.gz)`, made.url),
      '\nThe link works once, within 60 seconds.',
    ],
    noPreview: true,
  });
}

export const backupHandlers: Record<string, Handler> = { backups, backup, restore };

const SNAP = '([0-9a-f]{8})';
const VM = '([a-z][a-z0-9-]{0,31})';

export const backupButtons: ButtonHandler[] = [
  {
    pattern: new RegExp(`^bkr:${SNAP}:${VM}$`),
    run: async (turn, match, core) => askRestore(turn, core, match[1] ?? '', match[2] ?? ''),
  },
  {
    pattern: new RegExp(`^bkd:${SNAP}:${VM}$`),
    run: async (turn, match, core) => download(turn, core, match[1] ?? '', match[2] ?? ''),
  },
  {
    pattern: new RegExp(`^bkrestore:${SNAP}:${VM}:(yes|no)$`),
    run: async (turn, match, core) => {
      const [, id = '', name = '', choice] = match;
      const shown = turn.pressed ?? (await turn.reply('…'));
      if (choice === 'no') {
        await shown.edit('Nothing was restored.');
        return;
      }
      // Read as the presser's own: their VM of that name, their snapshot of its home.
      const { user, vm } = mine(turn, name, (n) => `/restore ${id} ${n}`);
      await shown.edit(`⏳ Restoring ${vm.name} from snapshot ${id}…`);
      let r: Awaited<ReturnType<typeof restoreOwnHome>>;
      try {
        r = await restoreOwnHome(core.deps.ctx, user, vm, id, turn.sender.actor);
      } catch (err) {
        await shown.edit(refusal(err, core, user));
        return;
      }
      core.deps.log.info(
        { user: user.login, vm: vm.name, home: r.home, snapshot: r.snapshot, safety: r.safety },
        'home restored from chat',
      );
      await shown.edit({
        text: [
          `✅ ${vm.name} restored from snapshot `,
          code(r.snapshot),
          ` (${formatSize(r.bytes)}). Your files as they were just before are snapshot `,
          code(r.safety ?? '—'),
          r.restarted ? `. ${vm.name} is running again.` : '.',
        ],
      });
    },
  },
];
