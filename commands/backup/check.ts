import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { checkRepository } from '../../src/services/backups/backups.js';

export default class BackupCheck extends BerthCommand {
  static override summary = "Check the backup repository's structure (restic check); --read-data reads every pack too";
  static override flags = { 'read-data': Flags.boolean({ description: 'read and verify all the data (slow: as long as a full restore)' }) };
  static override examples = ['<%= config.bin %> backup check'];

  async run(): Promise<{ ok: true; output: string }> {
    const { flags } = await this.parse(BackupCheck);
    const result = await checkRepository(this.berth, { readData: flags['read-data'] });
    this.log(`The repository is sound.\n${result.output}`);
    return result;
  }
}
