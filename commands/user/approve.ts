import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { approveUser } from '../../src/services/people/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserApprove extends BerthCommand {
  static override summary = 'Approve a pending (or rejected) user';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override flags = { plan: Flags.string({ description: 'plan to give the user' }) };
  static override examples = ['<%= config.bin %> user approve alice'];

  async run(): Promise<UserView> {
    const { args, flags } = await this.parse(UserApprove);
    const user = await approveUser(this.berth, args.login, flags.plan);
    this.log(`Approved user ${user.login}.`);
    return userView(user);
  }
}
