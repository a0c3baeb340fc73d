import { BerthCommand } from '../../src/cli/base-command.js';
import { setNodeDrained } from '../../src/services/nodes/nodes.js';
import type { NodeView } from '../../src/views/node-view.js';
import { nodeArg } from './show.js';

export default class NodeActivate extends BerthCommand {
  static override summary = 'Let berth place new VMs on a drained node again';
  static override args = { node: nodeArg };
  static override examples = ['<%= config.bin %> node activate worker-1'];

  async run(): Promise<NodeView> {
    const { args } = await this.parse(NodeActivate);
    const view = await setNodeDrained(this.berth, args.node, false);
    this.log(`Node ${view.hostname} takes new VMs again.`);
    return view;
  }
}
