import { BerthCommand } from '../../src/cli/base-command.js';
import { type TelegramStatusView, telegramStatus } from '../../src/services/setup/telegram-setup.js';

export default class TelegramStatusCommand extends BerthCommand {
  static override summary = "Show the bot's username, mode, token source and last update";
  static override description = 'Exits 1 when the bot is not running.';
  static override examples = ['<%= config.bin %> telegram status', '<%= config.bin %> telegram status --json'];

  async run(): Promise<TelegramStatusView> {
    await this.parse(TelegramStatusCommand);
    const status = await telegramStatus(this.store.home, this.store);
    const rows: [string, string][] = [
      ['Bot', status.username ? `@${status.username}` : '-'],
      ['Token', status.tokenSource ?? 'none'],
      ['Mode', status.mode],
      ['Bot API', status.apiRoot],
      ['Daemon', status.daemon],
      ['Last update', status.lastUpdateAt ?? 'none yet'],
    ];
    for (const [k, v] of rows) this.log(`${`${k}:`.padEnd(13)}${v}`);
    if (status.problem) this.log(`Not running: ${status.problem}`);
    if (status.problem) process.exitCode = 1;
    return status;
  }
}
