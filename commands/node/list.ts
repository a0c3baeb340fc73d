import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import { listNodes } from '../../src/services/nodes/nodes.js';
import type { NodeView } from '../../src/views/node-view.js';

export default class NodeList extends BerthCommand {
  static override summary = "List the Swarm nodes (config engine swarm): role, state, what berth's VMs reserve there";
  static override flags = {
    check: Flags.boolean({ description: "Ask each node's engine whether it answers (each within 5 s)", default: false }),
  };
  static override examples = ['<%= config.bin %> node list', '<%= config.bin %> node list --check --json'];

  async run(): Promise<NodeView[]> {
    const { flags } = await this.parse(NodeList);
    const nodes = await listNodes(this.berth, { check: flags.check });
    this.log(
      table(
        ['NODE', 'ROLE', 'STATE', 'AVAILABILITY', 'ENGINE', 'VMS', 'CPUS', 'MEMORY', 'GPUS', 'NEW VMS'],
        nodes.map((n) => [
          n.hostname,
          n.leader ? 'leader' : n.role,
          n.state,
          n.drained ? `${n.availability} (drained)` : n.availability,
          n.engineState === 'unchecked' ? n.engine : `${n.engine || '-'} (${n.engineState})`,
          String(n.vms),
          `${n.reserved.cpus}/${n.cpus}`,
          `${n.reserved.memory}/${n.memory}`,
          `${n.reserved.gpus}/${n.gpus}`,
          n.acceptsVms ? 'yes' : 'no',
        ]),
      ),
    );
    return nodes;
  }
}
