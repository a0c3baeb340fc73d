import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { listUserSecrets, type SecretListing } from '../../../src/services/secrets/user-secrets.js';
import { checkLogin } from '../../../src/values/names.js';

export default class UserSecretList extends BerthCommand {
  static override summary = "List a user's secrets: names and when each was set, never the values";
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user secret list alice'];

  async run(): Promise<SecretListing[]> {
    const { args } = await this.parse(UserSecretList);
    const secrets = await listUserSecrets(this.store, checkLogin(args.login));
    this.log(secrets.length ? secrets.map((s) => `${s.name.padEnd(12)} set ${s.setAt}`).join('\n') : `${args.login} has no secrets.`);
    return secrets;
  }
}
