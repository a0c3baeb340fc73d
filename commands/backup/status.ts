import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import { type BackupStatus, backupStatus } from '../../src/services/backups/backups.js';
import { formatSize } from '../../src/values/sizes.js';

export default class BackupStatusCommand extends BerthCommand {
  static override summary = "The backup repository: where it is, its size, its snapshots, and each home's last backup";
  static override examples = ['<%= config.bin %> backup status', '<%= config.bin %> backup status --json'];

  async run(): Promise<BackupStatus> {
    await this.parse(BackupStatusCommand);
    const status = await backupStatus(this.berth);
    if (this.jsonEnabled()) return status;
    if (!status.initialised) {
      this.log(`Repository ${status.repository}: not initialised. Make it with: berth backup init`);
      return status;
    }
    this.log(`Repository ${status.repository}: ${formatSize(status.bytes ?? 0)}, ${status.snapshots} snapshot(s).`);
    if (status.homes.length)
      this.log(
        table(
          ['HOME', 'USER', 'VM', 'SCHEDULE', 'SNAPSHOTS', 'LAST'],
          status.homes.map((h) => [h.home, h.login, h.vm, h.schedule, h.snapshots, h.last?.replace('T', ' ').slice(0, 19) ?? '-']),
        ),
      );
    return status;
  }
}
