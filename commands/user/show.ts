import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { userAppsTable, userDetails } from '../../src/cli/render.js';
import { listApps } from '../../src/services/apps/apps.js';
import { getUser } from '../../src/services/people/users.js';
import { type UserShowView, userAppView, userView } from '../../src/views/user-view.js';

export default class UserShow extends BerthCommand {
  static override summary = 'Show one user with their SSH keys and their apps';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user show alice', '<%= config.bin %> user show alice --json'];

  async run(): Promise<UserShowView> {
    const { args } = await this.parse(UserShow);
    const user = await getUser(this.store, args.login);
    const apps = (await listApps(this.berth, { user: user.login })).sort((a, b) => a.name.localeCompare(b.name)).map(userAppView);
    const view = { ...userView(user), apps };
    this.log(`${userDetails(view)}\n\n${userAppsTable(apps)}`);
    return view;
  }
}
