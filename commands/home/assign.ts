import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { assignHome } from '../../src/services/vm/homes.js';

export default class HomeAssign extends BerthCommand {
  static override summary = 'Give a kept home to a user: their next VM of that name mounts it';
  static override args = {
    home: Args.string({ description: 'home id (see berth home list)', required: true }),
    login: Args.string({ description: 'the user who gets it', required: true }),
  };
  static override flags = {
    vm: Flags.string({ description: 'the VM name it is for (default: the name it was made for)' }),
  };
  static override examples = [
    '<%= config.bin %> home assign 3fa9c1d2e4b5 alice',
    '<%= config.bin %> home assign 3fa9c1d2e4b5 bob --vm old',
  ];

  async run(): Promise<{ home: string; owner: string; vm: string }> {
    const { args, flags } = await this.parse(HomeAssign);
    const home = await assignHome(this.berth, args.home, args.login, { vm: flags.vm });
    this.log(`Home ${home.id} now belongs to ${home.login}: berth vm create ${home.login} --name ${home.vm} mounts it.`);
    return { home: home.id, owner: home.login, vm: home.vm };
  }
}
