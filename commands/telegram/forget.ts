import { BerthCommand } from '../../src/cli/base-command.js';
import { removeTelegramToken } from '../../src/services/secrets/telegram-token.js';

export default class TelegramForgetCommand extends BerthCommand {
  static override summary = 'Remove the stored bot token (keychain and secrets.json)';
  static override examples = ['<%= config.bin %> telegram forget'];

  async run(): Promise<{ removed: boolean }> {
    await this.parse(TelegramForgetCommand);
    const removed = await removeTelegramToken(this.store.home);
    this.note(removed ? 'The token was removed; restart the daemon to stop the bot.' : 'No token was stored.');
    return { removed };
  }
}
