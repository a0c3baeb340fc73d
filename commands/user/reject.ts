import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { rejectUser } from '../../src/services/people/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserReject extends BerthCommand {
  static override summary = 'Reject a pending user';
  static override args = { login: Args.string({ description: 'login', required: true }) };

  static override examples = ['<%= config.bin %> user reject alice'];

  async run(): Promise<UserView> {
    const { args } = await this.parse(UserReject);
    const user = await rejectUser(this.berth, args.login);
    this.log(`Rejected user ${user.login}.`);
    return userView(user);
  }
}
