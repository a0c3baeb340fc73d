import { BerthCommand } from '../../src/cli/base-command.js';
import { vmDetails } from '../../src/cli/render.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { showVm } from '../../src/services/vm/vm-status.js';
import type { VmView } from '../../src/views/vm-view.js';

export default class VmShow extends BerthCommand {
  static override summary = 'Show one VM';
  static override args = { vm: vmArg };
  static override examples = ['<%= config.bin %> vm show alice', '<%= config.bin %> vm show alice/web --json'];

  async run(): Promise<VmView> {
    const { args } = await this.parse(VmShow);
    const view = await showVm(this.berth, args.vm);
    this.log(vmDetails(view));
    return view;
  }
}
