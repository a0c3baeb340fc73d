import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { showVm } from '../../src/services/vm/vm-status.js';
import { rebuildVm } from '../../src/services/vm/vms.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmRebuild extends BerthCommand {
  static override summary = "Recreate a VM's container on its image as it is now, keeping the home";
  static override args = { vm: vmArg };

  static override examples = ['<%= config.bin %> vm rebuild alice', '<%= config.bin %> vm rebuild alice/web'];

  async run(): Promise<VmView> {
    const { args } = await this.parse(VmRebuild);
    const vm = await rebuildVm(this.berth, args.vm);
    const view = await showVm(this.berth, `${vm.user}/${vm.name}`);
    this.log(`Rebuilt VM ${view.ref}; it is ${view.state}.`);
    return view;
  }
}
