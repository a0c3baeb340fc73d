import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { revokeUser } from '../../src/services/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserRevoke extends BerthCommand {
  static override summary = 'Revoke a user: no more logins, bot or VM actions';
  static override args = { login: Args.string({ description: 'login', required: true }) };

  static override examples = ['<%= config.bin %> user revoke alice'];

  async run(): Promise<UserView> {
    const { args } = await this.parse(UserRevoke);
    const user = await revokeUser(this.store, args.login);
    if (!this.jsonEnabled()) this.log(`Revoked user ${user.login}.`);
    return userView(user);
  }
}
