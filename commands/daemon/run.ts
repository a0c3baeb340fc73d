// The one place a command reaches into daemon/: this is the daemon's entry point.
import { Flags } from '@oclif/core';
import { runDaemon } from '../../daemon/main.js';
import { BerthCommand } from '../../src/cli/base-command.js';

export default class DaemonRun extends BerthCommand {
  static override summary = 'Run the daemon in the foreground (for systemd and containers)';
  static override enableJsonFlag = false;
  static override examples = ['<%= config.bin %> daemon run'];
  static override flags = {
    'log-to-file': Flags.boolean({
      description: 'write the log to $BERTH_HOME/logs/daemon.log, rotated by log.max-size (what daemon start does)',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonRun);
    await runDaemon(this.store.home, { pretty: !flags['log-to-file'] && Boolean(process.stdout.isTTY), logToFile: flags['log-to-file'] });
    // Idle keep-alive sockets to the engine would hold the process for a while; the work is done.
    process.exit(0);
  }
}
