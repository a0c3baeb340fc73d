import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { setUser } from '../../src/services/people/users.js';
import { ROLES } from '../../src/state/schema.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserSet extends BerthCommand {
  static override summary = "Change a user's plan, role, Telegram id or Discord id";
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override flags = {
    plan: Flags.string({ description: 'move the user to this plan' }),
    role: Flags.string({ description: 'user or admin', options: [...ROLES] }),
    'telegram-id': Flags.string({ description: 'numeric Telegram id', exclusive: ['no-telegram-id'] }),
    'no-telegram-id': Flags.boolean({ description: 'forget the Telegram id' }),
    'discord-id': Flags.string({ description: 'Discord user id (17 to 20 digits), or none to forget it' }),
  };
  static override examples = [
    '<%= config.bin %> user set alice --plan pro',
    '<%= config.bin %> user set bob --role admin',
    '<%= config.bin %> user set dana --discord-id 80351110224678912',
    '<%= config.bin %> user set dana --discord-id none',
  ];

  async run(): Promise<UserView> {
    const { args, flags } = await this.parse(UserSet);
    const user = await setUser(this.store, args.login, {
      plan: flags.plan,
      role: flags.role,
      telegramId: flags['no-telegram-id'] ? null : flags['telegram-id'],
      discordId:
        flags['discord-id'] === undefined ? undefined : flags['discord-id'].trim().toLowerCase() === 'none' ? null : flags['discord-id'],
    });
    this.log(`Updated user ${user.login} (plan ${user.plan}, role ${user.role}).`);
    return userView(user);
  }
}
