import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { homeTable } from '../../src/cli/render.js';
import { type HomeView, listHomes } from '../../src/services/vm/homes.js';

export default class HomeList extends BerthCommand {
  static override summary = 'List homes: the volumes (and quota disks) VMs mount, kept ones included';
  static override description =
    'A home belongs to a user id, not a login: kept homes of removed users show no owner until given to someone with berth home assign.';
  static override flags = {
    user: Flags.string({ description: "only this user's homes" }),
    kept: Flags.boolean({ description: 'only homes no VM mounts' }),
  };
  static override examples = ['<%= config.bin %> home list', '<%= config.bin %> home list --kept --json'];

  async run(): Promise<HomeView[]> {
    const { flags } = await this.parse(HomeList);
    const homes = await listHomes(this.berth, { user: flags.user, kept: flags.kept });
    this.log(homeTable(homes));
    return homes;
  }
}
