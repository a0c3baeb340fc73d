import { BerthCommand } from '../../src/cli/base-command.js';
import { stopDaemon } from '../../src/services/control/daemon-control.js';

export default class DaemonStop extends BerthCommand {
  static override summary = 'Stop the daemon (SIGTERM; SIGKILL after 10 s)';
  static override examples = ['<%= config.bin %> daemon stop'];

  async run(): Promise<{ stopped: boolean; pid: number | null; killed: boolean }> {
    await this.parse(DaemonStop);
    const result = await stopDaemon(this.store.home);
    if (!result) {
      this.log('The berth daemon is not running.');
      return { stopped: false, pid: null, killed: false };
    }
    if (result.killed) process.stderr.write(`Warning: the daemon (pid ${result.pid}) did not stop within 10 s and was killed.\n`);
    this.log(`Stopped the berth daemon (pid ${result.pid}).`);
    return { stopped: true, pid: result.pid, killed: result.killed };
  }
}
