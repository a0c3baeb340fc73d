import { BerthCommand } from '../../src/cli/base-command.js';
import { type DiscordStatusView, discordStatus } from '../../src/services/setup/discord-setup.js';

export default class DiscordStatusCommand extends BerthCommand {
  static override summary = "Show the Discord bot's token source, bot user, application and invite link";
  static override description = 'Asks the Discord API whose the token is. Exits 1 when there is no token or the API refuses it.';
  static override examples = ['<%= config.bin %> discord status', '<%= config.bin %> discord status --json'];

  async run(): Promise<DiscordStatusView> {
    await this.parse(DiscordStatusCommand);
    const status = await discordStatus(this.store.home, this.store);
    const rows: [string, string][] = [
      ['Bot', status.username ? `${status.username} (${status.botId})` : '-'],
      ['Token', status.tokenSource ?? 'none'],
      ['Application', status.applicationId ?? '-'],
      ['Invite', status.inviteUrl ?? '-'],
      ['Discord API', status.apiRoot],
      ['Daemon', status.daemon],
      ['Servers', status.guilds === null ? '-' : String(status.guilds)],
      ['Last use', status.lastInteractionAt ?? (status.daemon === 'running' ? 'none yet' : '-')],
    ];
    for (const [k, v] of rows) this.log(`${`${k}:`.padEnd(13)}${v}`);
    if (status.problem) {
      this.log(`Not usable: ${status.problem}`);
      process.exitCode = 1;
    }
    return status;
  }
}
