import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { vmTable } from '../../src/cli/render.js';
import { listVms } from '../../src/services/vm/vm-status.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmList extends BerthCommand {
  static override summary = "List VMs: the engine's state next to the desired one";
  static override description = 'Without --all, only VMs that run or should run.';
  static override flags = {
    user: Flags.string({ description: "only this user's VMs" }),
    all: Flags.boolean({ char: 'a', description: 'include stopped VMs' }),
  };
  static override examples = ['<%= config.bin %> vm list', '<%= config.bin %> vm list --all --user alice --json'];

  async run(): Promise<VmView[]> {
    const { flags } = await this.parse(VmList);
    const vms = await listVms(this.berth, { user: flags.user, all: flags.all });
    if (!this.jsonEnabled()) {
      const { maintenance } = await this.store.read();
      if (maintenance.on)
        this.note(`MAINTENANCE is on${maintenance.reason ? ` (${maintenance.reason})` : ''}: VMs cannot be created or started.`);
      this.log(vmTable(vms));
    }
    return vms;
  }
}
