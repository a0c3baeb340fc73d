import { BerthCommand } from '../../src/cli/base-command.js';
import { removeDiscordToken } from '../../src/services/secrets/discord-token.js';

export default class DiscordForgetCommand extends BerthCommand {
  static override summary = "Remove the Discord bot's stored token (keychain and secrets.json)";
  static override examples = ['<%= config.bin %> discord forget'];

  async run(): Promise<{ removed: boolean }> {
    await this.parse(DiscordForgetCommand);
    const removed = await removeDiscordToken(this.store.home);
    this.note(removed ? 'The token was removed; restart the daemon to stop the Discord bot.' : 'No Discord token was stored.');
    return { removed };
  }
}
