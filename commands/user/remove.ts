import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { removeUser } from '../../src/services/users.js';

export default class UserRemove extends BerthCommand {
  static override summary = 'Remove a user and their SSH keys';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user remove alice'];

  async run(): Promise<{ removed: string }> {
    const { args } = await this.parse(UserRemove);
    const user = await removeUser(this.store, args.login);
    if (!this.jsonEnabled()) this.log(`Removed user ${user.login}.`);
    return { removed: user.login };
  }
}
