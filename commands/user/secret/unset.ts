import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { type SecretListing, unsetUserSecret } from '../../../src/services/secrets/user-secrets.js';
import { checkLogin } from '../../../src/values/names.js';

export default class UserSecretUnset extends BerthCommand {
  static override summary = "Forget one of a user's secrets";
  static override args = {
    login: Args.string({ description: 'login', required: true }),
    name: Args.string({ description: 'secret name, e.g. anthropic', required: true }),
  };
  static override examples = ['<%= config.bin %> user secret unset alice anthropic'];

  async run(): Promise<SecretListing> {
    const { args } = await this.parse(UserSecretUnset);
    const removed = await unsetUserSecret(this.store, checkLogin(args.login), args.name);
    this.log(`Removed ${args.login}'s ${removed.name} secret.`);
    return removed;
  }
}
