import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { allowUser } from '../../src/services/people/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserAllow extends BerthCommand {
  static override summary = 'Allow a login (adds the user, or lets a revoked or rejected one back in)';
  static override args = { login: Args.string({ description: 'login: SSH user name and VM user', required: true }) };
  static override flags = {
    'telegram-id': Flags.string({ description: "the user's numeric Telegram id" }),
    'discord-id': Flags.string({ description: "the user's Discord user id (17 to 20 digits)" }),
    plan: Flags.string({ description: 'plan (default: config default-plan)' }),
    admin: Flags.boolean({ description: 'make the user an admin' }),
  };
  static override examples = [
    '<%= config.bin %> user allow alice',
    '<%= config.bin %> user allow bob --telegram-id 123456789 --plan pro',
    '<%= config.bin %> user allow dana --discord-id 80351110224678912',
    '<%= config.bin %> user allow carol --admin',
  ];

  async run(): Promise<UserView> {
    const { args, flags } = await this.parse(UserAllow);
    const { user, created } = await allowUser(this.store, args.login, {
      telegramId: flags['telegram-id'],
      discordId: flags['discord-id'],
      plan: flags.plan,
      admin: flags.admin,
    });
    this.log(`${created ? 'Allowed new user' : 'Allowed user'} ${user.login} (plan ${user.plan}, role ${user.role}).`);
    if (user.keys.length === 0) this.log(`Next: berth user key add ${user.login} --file their_key.pub`);
    return userView(user);
  }
}
