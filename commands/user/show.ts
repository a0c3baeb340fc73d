import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { userDetails } from '../../src/cli/render.js';
import { getUser } from '../../src/services/people/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserShow extends BerthCommand {
  static override summary = 'Show one user with their SSH keys';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user show alice'];

  async run(): Promise<UserView> {
    const { args } = await this.parse(UserShow);
    const view = userView(await getUser(this.store, args.login));
    this.log(userDetails(view));
    return view;
  }
}
