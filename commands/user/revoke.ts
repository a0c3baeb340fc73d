import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { revokeUser } from '../../src/services/people/users.js';
import { type UserView, userView } from '../../src/views/user-view.js';

export default class UserRevoke extends BerthCommand {
  static override summary = 'Revoke a user: no more logins, bot or VM actions';
  static override description =
    'Takes effect at once: their open SSH connections are closed (when the daemon runs) and their running VMs are stopped, unless --keep-running.';
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override flags = {
    'keep-running': Flags.boolean({ description: "leave the user's running VMs running" }),
  };

  static override examples = ['<%= config.bin %> user revoke alice', '<%= config.bin %> user revoke alice --keep-running'];

  async run(): Promise<UserView & { stoppedVms: string[] }> {
    const { args, flags } = await this.parse(UserRevoke);
    const { user, stopped, failed } = await revokeUser(this.berth, args.login, { keepRunning: flags['keep-running'] });
    this.log(`Revoked user ${user.login}.${stopped.length ? ` Stopped ${stopped.join(', ')}.` : ''}`);
    for (const f of failed) this.note(`Could not stop ${f.vm}: ${f.error}`);
    if (failed.length) process.exitCode = 1;
    return { ...userView(user), stoppedVms: stopped };
  }
}
