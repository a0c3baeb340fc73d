import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { showVm } from '../../src/services/vm/vm-status.js';
import { stopVm } from '../../src/services/vm/vms.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmStop extends BerthCommand {
  static override summary = 'Stop a VM (its home and container are kept)';
  static override args = { vm: vmArg };

  static override examples = ['<%= config.bin %> vm stop alice', '<%= config.bin %> vm stop alice/web'];

  async run(): Promise<VmView> {
    const { args } = await this.parse(VmStop);
    const vm = await stopVm(this.berth, args.vm);
    const view = await showVm(this.berth, `${vm.user}/${vm.name}`);
    this.log(`Stopped VM ${view.ref}; it is ${view.state}.`);
    return view;
  }
}
