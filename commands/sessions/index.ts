import { BerthCommand } from '../../src/cli/base-command.js';
import { sessionsTable } from '../../src/cli/render.js';
import type { SshSessionView } from '../../src/services/control/daemon-routes.js';
import { listSshSessions } from '../../src/services/control/ssh-sessions.js';

export default class Sessions extends BerthCommand {
  static override summary = 'List the open sessions: SSH (shells, commands, transfers, forwards) and web (terminals, app WebSockets)';
  static override examples = ['<%= config.bin %> sessions', '<%= config.bin %> sessions --json'];

  async run(): Promise<{ sessions: SshSessionView[] }> {
    await this.parse(Sessions);
    const sessions = await listSshSessions(this.store.home);
    if (!this.jsonEnabled()) this.log(sessions.length === 0 ? 'No open sessions.' : sessionsTable(sessions));
    return { sessions };
  }
}
