import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import { daemonStatus } from '../../src/services/control/daemon-control.js';
import type { DaemonStatus } from '../../src/services/control/daemon-routes.js';

export default class DaemonStatusCommand extends BerthCommand {
  static override summary = "Show the daemon's pid, uptime, version and each component";
  static override description = 'Exits 1 when the daemon is not running.';
  static override examples = ['<%= config.bin %> daemon status', '<%= config.bin %> daemon status --json'];

  async run(): Promise<DaemonStatus> {
    await this.parse(DaemonStatusCommand);
    const status = await daemonStatus(this.store.home);
    if (!status.running) {
      this.log(
        `The berth daemon is not running${status.pid ? ` (pid ${status.pid} is alive but does not answer on ${status.socket})` : ''}. Start it: berth daemon start`,
      );
    } else {
      this.log(`berth daemon ${status.version}: pid ${status.pid}, up ${status.uptimeSeconds} s, socket ${status.socket}`);
      if (status.maintenance?.on) this.log(`MAINTENANCE is on${status.maintenance.reason ? `: ${status.maintenance.reason}` : ''}`);
      this.log(
        table(
          ['COMPONENT', 'STATE', 'DETAIL', 'LAST ERROR'],
          status.components.map((c) => [c.name, c.state, c.detail || '-', c.lastError ?? '-']),
        ),
      );
    }
    if (!status.running) process.exitCode = 1;
    return status;
  }
}
