// The one place a command reaches into daemon/: this is the daemon's entry point.
import { runDaemon } from '../../daemon/main.js';
import { BerthCommand } from '../../src/cli/base-command.js';

export default class DaemonRun extends BerthCommand {
  static override summary = 'Run the daemon in the foreground (for systemd and containers)';
  static override enableJsonFlag = false;
  static override examples = ['<%= config.bin %> daemon run'];

  async run(): Promise<void> {
    await this.parse(DaemonRun);
    await runDaemon(this.store.home, { pretty: Boolean(process.stdout.isTTY) });
    // Idle keep-alive sockets to the engine would hold the process for a while; the work is done.
    process.exit(0);
  }
}
