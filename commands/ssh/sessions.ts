import { BerthCommand } from '../../src/cli/base-command.js';
import { table } from '../../src/cli/table.js';
import type { SshSessionView } from '../../src/services/daemon-routes.js';
import { listSshSessions } from '../../src/services/ssh-sessions.js';
import { formatSize } from '../../src/values/sizes.js';

export default class SshSessions extends BerthCommand {
  static override summary = "List the SSH gateway's open sessions (user, VM, key, source, what runs, bytes)";
  static override examples = ['<%= config.bin %> ssh sessions', '<%= config.bin %> ssh sessions --json'];

  async run(): Promise<{ sessions: SshSessionView[] }> {
    await this.parse(SshSessions);
    const sessions = await listSshSessions(this.store.home);
    if (sessions.length === 0) this.log('No open SSH sessions.');
    else {
      const age = (iso: string) => `${Math.round((Date.now() - Date.parse(iso)) / 1000)} s`;
      this.log(
        table(
          ['ID', 'USER', 'VM', 'KIND', 'COMMAND', 'SOURCE', 'AGE', 'IN', 'OUT', 'KEY'],
          sessions.map((s) => [
            s.id,
            s.user,
            s.vm,
            s.kind,
            (s.command ?? '-').slice(0, 40),
            s.source,
            age(s.startedAt),
            formatSize(s.bytesIn),
            formatSize(s.bytesOut),
            s.fingerprint,
          ]),
        ),
      );
    }
    return { sessions };
  }
}
