import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { moveVm } from '../../src/services/vm/vm-move.js';
import { showVm } from '../../src/services/vm/vm-status.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmMove extends BerthCommand {
  static override summary = 'Move a VM to another Swarm node: stop, copy its home, re-pin, start (config engine swarm)';
  static override args = { vm: vmArg };
  static override flags = { to: Flags.string({ description: 'the node: hostname or id', required: true }) };
  static override examples = ['<%= config.bin %> vm move alice --to worker-2'];

  async run(): Promise<VmView> {
    const { args, flags } = await this.parse(VmMove);
    const vm = await moveVm(this.berth, args.vm, flags.to);
    const view = await showVm(this.berth, `${vm.user}/${vm.name}`);
    this.log(`Moved VM ${view.ref} to node ${flags.to}; it is ${view.state}.`);
    return view;
  }
}
