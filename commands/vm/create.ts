import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { forceFlag } from '../../src/cli/vm-flags.js';
import { operator } from '../../src/domain/actor.js';
import { createVm } from '../../src/services/vm/vms.js';
import { type VmView, vmView } from '../../src/views/vm-view.js';

export default class VmCreate extends BerthCommand {
  static override summary = "Create and start a VM for a user, with their plan's resources";
  static override args = { user: Args.string({ description: 'login of the owner', required: true }) };
  static override flags = {
    name: Flags.string({ description: 'VM name (default: main)' }),
    plan: Flags.string({ description: "plan (default: the user's plan)" }),
    template: Flags.string({ description: 'image template (see berth image build)', exclusive: ['image'] }),
    image: Flags.string({ description: 'a berth-built image (default: config image)' }),
    force: forceFlag,
  };
  static override examples = [
    '<%= config.bin %> vm create alice',
    '<%= config.bin %> vm create alice --name web --plan pro',
    '<%= config.bin %> vm create bob --template minimal',
  ];

  async run(): Promise<VmView> {
    const { args, flags } = await this.parse(VmCreate);
    const vm = await createVm(
      this.berth,
      { user: args.user, name: flags.name, plan: flags.plan, template: flags.template, image: flags.image },
      operator(flags.force),
    );
    const view = vmView(vm, 'running');
    this.log(`Created VM ${view.ref} (${view.cpu} CPU, ${view.ram} RAM, image ${view.image}); it is ${view.state}.`);
    this.log(`Shell: berth vm shell ${view.ref}`);
    return view;
  }
}
