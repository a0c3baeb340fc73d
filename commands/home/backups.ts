import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import { homeSnapshots, type SnapshotView } from '../../src/services/backups/backups.js';

export default class HomeBackups extends BerthCommand {
  static override summary = "List a home's snapshots, newest first";
  static override args = { home: Args.string({ description: 'home id, or USER[/VM] (the home that VM mounts)', required: true }) };
  static override examples = ['<%= config.bin %> home backups alice', '<%= config.bin %> home backups alice/web --json'];

  async run(): Promise<{ home: string; snapshots: SnapshotView[] }> {
    const { args } = await this.parse(HomeBackups);
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
