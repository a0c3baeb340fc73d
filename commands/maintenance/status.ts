import { BerthCommand } from '../../src/cli/base-command.js';
import { maintenanceLine, scheduleTable } from '../../src/cli/render-maintenance.js';
import { type MaintenanceStatus, maintenanceStatus } from '../../src/services/nodes/maintenance.js';

export default class MaintenanceStatusCommand extends BerthCommand {
  static override summary = 'Show whether maintenance is on, why, until when, and the scheduled windows';
  static override examples = ['<%= config.bin %> maintenance status --json'];

  async run(): Promise<MaintenanceStatus> {
    await this.parse(MaintenanceStatusCommand);
    const status = await maintenanceStatus(this.berth);
    this.log(maintenanceLine(status));
    if (status.on && status.stoppedVms.length) this.log(`Stopped by it: ${status.stoppedVms.join(', ')}`);
    this.log(`\n${scheduleTable(status.schedules)}`);
    return status;
  }
}
