import { BerthCommand } from '../../src/cli/base-command.js';
import { type InitResult, initRepository } from '../../src/services/backups/repository.js';

export default class BackupInit extends BerthCommand {
  static override summary = 'Make the backup repository (config backup.repository) with a new password kept like the bot token';
  static override description =
    "The password is made by berth and kept in the OS keychain (else the berth home's 0600 secrets file); it is never shown, logged or in the state. Keep a copy of the berth home's secrets with the repository's: without the password the backups cannot be read.";
  static override examples = [
    '<%= config.bin %> backup init',
    '<%= config.bin %> config set backup.repository /srv/berth-backups && <%= config.bin %> backup init',
  ];

  async run(): Promise<InitResult> {
    await this.parse(BackupInit);
    const result = await initRepository(this.berth);
    this.log(
      `Made the backup repository ${result.repository}; its password is in the ${result.password === 'keychain' ? 'OS keychain' : "berth home's secrets file (0600)"}.`,
    );
    if (result.keychainUnavailable) this.note(`(no keychain: ${result.keychainUnavailable})`);
    this.note('Next: plans say how often homes are backed up: berth plan set PLAN --backup daily --keep 7d,4w');
    return result;
  }
}
