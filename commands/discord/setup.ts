import { BerthCommand } from '../../src/cli/base-command.js';
import { readSecret } from '../../src/cli/secret-input.js';
import { livePid } from '../../src/services/control/daemon-control.js';
import { type DiscordBotIdentity, setupDiscord } from '../../src/services/setup/discord-setup.js';

export default class DiscordSetupCommand extends BerthCommand {
  static override summary = "Store the Discord bot's token after checking it with the Discord API";
  static override description =
    'Reads the token from a prompt that does not echo it, or from stdin when piped, and asks the Discord API whose it is (the bot user and its application). It goes to the OS keychain (Secret Service) when one answers, else to $BERTH_HOME/secrets.json (0600). BERTH_DISCORD_TOKEN, when set, wins over both. Prints the link that adds the bot to a server.';
  static override examples = ['<%= config.bin %> discord setup', 'pass show berth/discord | <%= config.bin %> discord setup'];

  async run(): Promise<{ bot: DiscordBotIdentity; inviteUrl: string; apiRoot: string; stored: string; keychainUnavailable?: string }> {
    await this.parse(DiscordSetupCommand);
    const token = await readSecret(
      "Bot token (Developer Portal, your application's Bot page):",
      'Pipe the token in: … | berth discord setup',
    );
    const result = await setupDiscord(this.store.home, this.store, token);
    if (!this.jsonEnabled()) {
      this.log(`Token accepted: the bot is ${result.bot.username} (application ${result.bot.applicationId}, ${result.apiRoot}).`);
      this.log(
        result.stored.source === 'keychain'
          ? 'Stored in the OS keychain (Secret Service).'
          : `Stored in ${this.store.home}/secrets.json (mode 0600): the OS keychain is not usable here — ${result.stored.keychainUnavailable}.`,
      );
      this.log(`Add the bot to a server: ${result.inviteUrl}`);
      if (process.env.BERTH_DISCORD_TOKEN) this.log('Note: BERTH_DISCORD_TOKEN is set and wins over the stored token.');
      if (livePid(this.store.home)) this.log('Restart the daemon to use it: berth daemon stop && berth daemon start');
    }
    return {
      bot: result.bot,
      inviteUrl: result.inviteUrl,
      apiRoot: result.apiRoot,
      stored: result.stored.source,
      keychainUnavailable: result.stored.keychainUnavailable,
    };
  }
}
