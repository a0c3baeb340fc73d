import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { showNode } from '../../src/services/nodes/nodes.js';
import type { NodeView } from '../../src/views/node-view.js';

export const nodeArg = Args.string({ description: 'Swarm node: hostname or id', required: true });

export function nodeText(n: NodeView): string {
  return [
    `Node:          ${n.hostname} (${n.id})`,
    `Role:          ${n.leader ? 'manager (leader)' : n.role}`,
    `State:         ${n.state}, availability ${n.availability}${n.drained ? ', drained by berth' : ''}`,
    `Engine:        ${n.engine || '(not set: berth node engine NODE ENDPOINT)'} — ${n.engineState}`,
    `VMs:           ${n.vms}`,
    `Reserved:      ${n.reserved.cpus}/${n.cpus} CPUs, ${n.reserved.memory}/${n.memory}, ${n.reserved.gpus}/${n.gpus} GPUs`,
    ...(n.firewall ? [`Firewall:      ${n.firewall.state}: ${n.firewall.detail}`] : []),
    `New VMs:       ${n.acceptsVms ? 'yes' : 'no'}`,
    ...n.problems.map((p) => `  - ${p}`),
  ].join('\n');
}

export default class NodeShow extends BerthCommand {
  static override summary =
    'Show one Swarm node, with its engine asked and its daemon defaults checked (no-new-privileges, seccomp, AppArmor)';
  static override args = { node: nodeArg };
  static override examples = ['<%= config.bin %> node show worker-1', '<%= config.bin %> node show worker-1 --json'];

  async run(): Promise<NodeView> {
    const { args } = await this.parse(NodeShow);
    const view = await showNode(this.berth, args.node);
    this.log(nodeText(view));
    return view;
  }
}
