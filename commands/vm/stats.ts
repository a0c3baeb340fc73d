import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { statsTable } from '../../src/cli/render.js';
import { type VmStatsView, vmStats } from '../../src/services/vm/vm-exec.js';

export default class VmStats extends BerthCommand {
  static override summary = 'CPU %, memory used/limit, processes and network I/O of running VMs';
  static override args = { vm: Args.string({ description: 'one VM (default: every running VM)' }) };
  static override examples = ['<%= config.bin %> vm stats', '<%= config.bin %> vm stats alice --json'];

  async run(): Promise<VmStatsView[]> {
    const { args } = await this.parse(VmStats);
    const stats = await vmStats(this.berth, args.vm);
    this.log(statsTable(stats));
    return stats;
  }
}
