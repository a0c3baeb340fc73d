import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type BackupResult, backupHome } from '../../src/services/backups/backups.js';
import { formatSize } from '../../src/values/sizes.js';

export default class HomeBackup extends BerthCommand {
  static override summary = "Back a home up now (a running VM's processes are frozen for the read)";
  static override args = { home: Args.string({ description: 'home id, or USER[/VM] (the home that VM mounts)', required: true }) };
  static override examples = ['<%= config.bin %> home backup alice', '<%= config.bin %> home backup 3fa9c1d2e4b5 --json'];

  async run(): Promise<BackupResult> {
    const { args } = await this.parse(HomeBackup);
    this.note(`Backing up ${args.home}…`);
    const r = await backupHome(this.berth, args.home, { reason: 'operator' });
    this.log(
      `Snapshot ${r.snapshot} of home ${r.home}: ${r.files} files, ${formatSize(r.bytesProcessed)} read, ${formatSize(r.bytesAdded)} added, in ${r.seconds.toFixed(1)} s.`,
    );
    return r;
  }
}
