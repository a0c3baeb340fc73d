import { BerthCommand } from '../../src/cli/base-command.js';
import { sessionsTable } from '../../src/cli/render.js';
import type { SshSessionView } from '../../src/services/control/daemon-routes.js';
import { listSshSessions } from '../../src/services/control/ssh-sessions.js';

export default class SshSessions extends BerthCommand {
  static override summary = 'List the open sessions, SSH and web (the same as berth sessions)';
  static override examples = ['<%= config.bin %> ssh sessions', '<%= config.bin %> ssh sessions --json'];

  async run(): Promise<{ sessions: SshSessionView[] }> {
    await this.parse(SshSessions);
    const sessions = await listSshSessions(this.store.home);
    this.log(sessions.length === 0 ? 'No open sessions.' : sessionsTable(sessions));
    return { sessions };
  }
}
