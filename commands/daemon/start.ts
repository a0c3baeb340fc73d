import { BerthCommand } from '../../src/cli/base-command.js';
import { daemonPaths, startDaemon } from '../../src/services/control/daemon-control.js';
import type { DaemonStatus } from '../../src/services/control/daemon-routes.js';

export default class DaemonStart extends BerthCommand {
  static override summary = 'Start the daemon in the background and wait until it is healthy';
  static override examples = ['<%= config.bin %> daemon start'];

  async run(): Promise<DaemonStatus> {
    await this.parse(DaemonStart);
    await this.store.read();
    this.note('Starting the berth daemon…');
    const status = await startDaemon(this.store.home);
    this.log(`berth daemon running: pid ${status.pid}, socket ${status.socket}`);
    this.log(`Log: ${daemonPaths(this.store.home).logFile}`);
    return status;
  }
}
