import { BerthCommand } from '../../src/cli/base-command.js';
import { forceFlag, vmArg } from '../../src/cli/vm-flags.js';
import { operator } from '../../src/domain/actor.js';
import { showVm } from '../../src/services/vm/vm-status.js';
import { restartVm } from '../../src/services/vm/vms.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmRestart extends BerthCommand {
  static override summary = 'Restart a VM';
  static override args = { vm: vmArg };
  static override flags = { force: forceFlag };
  static override examples = ['<%= config.bin %> vm restart alice', '<%= config.bin %> vm restart alice/web'];

  async run(): Promise<VmView> {
    const { args, flags } = await this.parse(VmRestart);
    const vm = await restartVm(this.berth, args.vm, operator(flags.force));
    const view = await showVm(this.berth, `${vm.user}/${vm.name}`);
    this.log(`Restarted VM ${view.ref}; it is ${view.state}.`);
    return view;
  }
}
