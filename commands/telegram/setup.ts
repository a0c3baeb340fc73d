import { BerthCommand } from '../../src/cli/base-command.js';
import { readSecret } from '../../src/cli/secret-input.js';
import { livePid } from '../../src/services/control/daemon-control.js';
import { type SetupResult, setupTelegram } from '../../src/services/setup/telegram-setup.js';

export default class TelegramSetupCommand extends BerthCommand {
  static override summary = "Store the bot's token after checking it with the Bot API (getMe)";
  static override description =
    'Reads the token from a prompt that does not echo it, or from stdin when piped. It goes to the OS keychain (Secret Service) when one answers, else to $BERTH_HOME/secrets.json (0600). BERTH_TELEGRAM_TOKEN, when set, wins over both.';
  static override examples = ['<%= config.bin %> telegram setup', 'pass show berth/bot | <%= config.bin %> telegram setup'];

  async run(): Promise<Omit<SetupResult, 'stored'> & { stored: SetupResult['stored']['source']; keychainUnavailable?: string }> {
    await this.parse(TelegramSetupCommand);
    const token = await readSecret('Bot token from @BotFather:', 'Pipe the token in: … | berth telegram setup');
    const result = await setupTelegram(this.store.home, this.store, token);
    if (!this.jsonEnabled()) {
      this.log(`Token accepted: the bot is @${result.bot.username} (${result.apiRoot}).`);
      this.log(
        result.stored.source === 'keychain'
          ? 'Stored in the OS keychain (Secret Service).'
          : `Stored in ${this.store.home}/secrets.json (mode 0600): the OS keychain is not usable here — ${result.stored.keychainUnavailable}.`,
      );
      if (process.env.BERTH_TELEGRAM_TOKEN) this.log('Note: BERTH_TELEGRAM_TOKEN is set and wins over the stored token.');
      if (livePid(this.store.home)) this.log('Restart the daemon to use it: berth daemon stop && berth daemon start');
    }
    return {
      bot: result.bot,
      apiRoot: result.apiRoot,
      stored: result.stored.source,
      keychainUnavailable: result.stored.keychainUnavailable,
    };
  }
}
