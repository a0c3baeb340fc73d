import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { confirmByTyping } from '../../src/cli/confirm.js';
import { deleteHome } from '../../src/services/vm/homes.js';

export default class HomeDelete extends BerthCommand {
  static override summary = 'Delete a kept home: its volume, its disk image and everything in it';
  static override args = { home: Args.string({ description: 'home id (see berth home list)', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask for confirmation (needed without a terminal)' }),
  };
  static override examples = ['<%= config.bin %> home delete 3fa9c1d2e4b5 --yes'];

  async run(): Promise<{ deleted: string; volume: string }> {
    const { args, flags } = await this.parse(HomeDelete);
    if (!flags.yes) await confirmByTyping(`This deletes home ${args.home} and every file in it.`, args.home, '--yes');
    const home = await deleteHome(this.berth, args.home);
    this.log(`Deleted home ${home.id} (volume ${home.volume}).`);
    return { deleted: home.id, volume: home.volume };
  }
}
