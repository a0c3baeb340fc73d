import { BerthCommand } from '../../src/cli/base-command.js';
import { maintenanceTick } from '../../src/services/nodes/maintenance.js';

export default class MaintenanceTick extends BerthCommand {
  static override summary = 'Do whatever scheduled maintenance work is due now (for system cron; idempotent)';
  static override description = 'Crontab: * * * * * berth maintenance tick >> ~/.local/share/berth/logs/tick.log 2>&1';
  static override examples = ['<%= config.bin %> maintenance tick'];

  async run(): Promise<{ actions: string[] }> {
    await this.parse(MaintenanceTick);
    const actions = await maintenanceTick(this.berth);
    for (const a of actions) this.log(`${new Date().toISOString()} ${a}`);
    return { actions };
  }
}
