import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { removeUser } from '../../src/services/people/users.js';

export default class UserRemove extends BerthCommand {
  static override summary = 'Remove a user and their SSH keys';
  static override description =
    'A user with kept homes (VMs destroyed with --keep-data) needs --delete-homes or --keep-homes: a home is never handed to whoever gets the login next. Kept homes of removed users are listed by berth home list and can be deleted or given to a user (berth home assign).';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override flags = {
    'delete-homes': Flags.boolean({ description: "delete the user's kept homes", exclusive: ['keep-homes'] }),
    'keep-homes': Flags.boolean({ description: "keep the user's homes, owned by nobody until given away with berth home assign" }),
  };
  static override examples = ['<%= config.bin %> user remove alice', '<%= config.bin %> user remove alice --keep-homes'];

  async run(): Promise<{ removed: string; homes: string[]; homesKept: boolean }> {
    const { args, flags } = await this.parse(UserRemove);
    const homes = flags['delete-homes'] ? 'delete' : flags['keep-homes'] ? 'keep' : undefined;
    const { user, homes: kept } = await removeUser(this.berth, args.login, { homes });
    this.log(
      `Removed user ${user.login}.${kept.length ? ` Kept ${kept.length} home(s) without an owner: ${kept.map((h) => h.id).join(', ')}.` : ''}`,
    );
    return { removed: user.login, homes: kept.map((h) => h.id), homesKept: kept.length > 0 };
  }
}
