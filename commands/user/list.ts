import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { userTable } from '../../src/cli/render.js';
import { listUsers } from '../../src/services/people/users.js';
import { USER_STATUSES } from '../../src/state/schema.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserList extends BerthCommand {
  static override summary = 'List users';
  static override flags = { status: Flags.string({ description: 'only users with this status', options: [...USER_STATUSES] }) };
  static override examples = ['<%= config.bin %> user list', '<%= config.bin %> user list --status pending --json'];

  async run(): Promise<UserView[]> {
    const { flags } = await this.parse(UserList);
    const users = (await listUsers(this.store, { status: flags.status as (typeof USER_STATUSES)[number] | undefined })).map(userView);
    this.log(userTable(users));
    return users;
  }
}
