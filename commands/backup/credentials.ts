import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { CREDENTIAL_NAMES, setRepositoryCredential } from '../../src/services/backups/repository.js';

export default class BackupCredentials extends BerthCommand {
  static override summary = "Keep a remote repository's credential (read from standard input), like the repository's password";
  static override description =
    `The value goes to the OS keychain (else the berth home's 0600 secrets file), never the state, a log or a command line, and reaches restic on its standard input. Names: ${CREDENTIAL_NAMES.join(', ')}.`;
  static override args = {
    name: Args.string({ description: 'the variable restic reads it from, e.g. AWS_SECRET_ACCESS_KEY', required: true }),
  };
  static override examples = ['printf %s "$KEY" | <%= config.bin %> backup credentials AWS_SECRET_ACCESS_KEY'];

  async run(): Promise<{ name: string; stored: string }> {
    const { args } = await this.parse(BackupCredentials);
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const saved = await setRepositoryCredential(this.store.home, args.name, Buffer.concat(chunks).toString('utf8'));
    this.log(`Kept ${args.name} in the ${saved.source === 'keychain' ? 'OS keychain' : "berth home's secrets file (0600)"}.`);
    return { name: args.name, stored: saved.source };
  }
}
