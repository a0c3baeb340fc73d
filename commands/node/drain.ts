import { BerthCommand } from '../../src/cli/base-command.js';
import { setNodeDrained } from '../../src/services/nodes/nodes.js';
import type { NodeView } from '../../src/views/node-view.js';
import { nodeArg } from './show.js';

export default class NodeDrain extends BerthCommand {
  static override summary = 'Place no new VM on a node; its VMs keep running there (and start there again)';
  static override args = { node: nodeArg };
  static override examples = ['<%= config.bin %> node drain worker-1'];

  async run(): Promise<NodeView> {
    const { args } = await this.parse(NodeDrain);
    const view = await setNodeDrained(this.berth, args.node, true);
    this.log(`Node ${view.hostname} is drained: no new VMs; its ${view.vms} VM(s) stay.`);
    return view;
  }
}
