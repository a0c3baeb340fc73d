import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import { type BackupLink, requestBackupLink } from '../../src/services/access/backup-links.js';
import { homeSnapshots, type SnapshotView } from '../../src/services/backups/backups.js';

export default class HomeBackups extends BerthCommand {
  static override summary = "List a home's snapshots, newest first";
  static override description =
    'With --download, a one-time link (good once, within 60 s) that downloads that snapshot as a .tar.gz in a browser; the running daemon makes it.';
  static override args = { home: Args.string({ description: 'home id, or USER[/VM] (the home that VM mounts)', required: true }) };
  static override flags = {
    download: Flags.string({ description: 'a one-time link that downloads this snapshot (.tar.gz) in a browser', helpValue: 'SNAPSHOT' }),
  };
  static override examples = [
    '<%= config.bin %> home backups alice',
    '<%= config.bin %> home backups alice/web --json',
    '<%= config.bin %> home backups alice --download 4f2a9c1e',
  ];

  async run(): Promise<{ home: string; snapshots: SnapshotView[] } | BackupLink> {
    const { args, flags } = await this.parse(HomeBackups);
    if (flags.download !== undefined) {
      const link = await requestBackupLink(this.berth, args.home, flags.download);
      if (!this.jsonEnabled())
        this.log(
          `${link.url}\nOpen it once, within 60 seconds (until ${link.expiresAt}): it downloads snapshot ${link.snapshot} of home ${link.home} as a .tar.gz.`,
        );
      return link;
    }
    const { home, snapshots } = await homeSnapshots(this.berth, args.home);
    if (!this.jsonEnabled())
      this.log(
        snapshots.length === 0
          ? `Home ${home.id} has no snapshots yet: berth home backup ${home.id}`
          : table(
              ['SNAPSHOT', 'TAKEN', 'WHY'],
              snapshots.map((s) => [s.id, s.time.replace('T', ' ').slice(0, 19), s.reason]),
            ),
      );
    return { home: home.id, snapshots };
  }
}
