import { BerthCommand } from '../../../src/cli/base-command.js';
import { scheduleTable } from '../../../src/cli/render-maintenance.js';
import { listSchedules, type ScheduleView } from '../../../src/services/nodes/maintenance.js';

export default class ScheduleList extends BerthCommand {
  static override summary = 'List maintenance windows with their next start';
  static override examples = ['<%= config.bin %> maintenance schedule list'];

  async run(): Promise<ScheduleView[]> {
    await this.parse(ScheduleList);
    const schedules = await listSchedules(this.berth);
    this.log(scheduleTable(schedules));
    return schedules;
  }
}
