import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { removeSchedule, type ScheduleView } from '../../../src/services/nodes/maintenance.js';

export default class ScheduleRemove extends BerthCommand {
  static override summary = 'Remove a maintenance window';
  static override args = { id: Args.string({ description: 'window id (see schedule list), e.g. w1', required: true }) };
  static override examples = ['<%= config.bin %> maintenance schedule remove w1'];

  async run(): Promise<ScheduleView> {
    const { args } = await this.parse(ScheduleRemove);
    const view = await removeSchedule(this.berth, args.id);
    this.log(`Removed window ${view.id}.`);
    return view;
  }
}
