import { Flags } from '@oclif/core';
import { BerthCommand } from '../src/cli/base-command.js';
import { progressLines } from '../src/cli/progress.js';
import { table } from '../src/cli/table.js';
import { type UpResult, up } from '../src/services/setup/up.js';
import { effectiveConfig } from '../src/values/config-keys.js';

export default class Up extends BerthCommand {
  static override summary = 'Set berth up and running: init, the default VM image, the daemon (idempotent)';
  static override flags = { base: Flags.string({ description: 'base image for the default VM image, e.g. berth-base:bookworm' }) };
  static override examples = ['<%= config.bin %> up', '<%= config.bin %> up --base berth-base:bookworm'];

  async run(): Promise<UpResult> {
    const { flags } = await this.parse(Up);
    const progress = progressLines(this.jsonEnabled());
    const result = await up(this.berth, {
      base: flags.base,
      onStep: (s) => this.note(s),
      onBuildLine: progress.line,
    });
    progress.done();
    if (!this.jsonEnabled()) {
      const d = result.daemon;
      const cfg = effectiveConfig((await this.store.read()).config);
      this.log(`berth is up. Daemon ${result.daemonStarted ? 'started' : 'already running'}: pid ${d.pid}, socket ${d.socket}`);
      this.log(
        table(
          ['COMPONENT', 'STATE', 'DETAIL'],
          d.components.map((c) => [c.name, c.state, c.detail || '-']),
        ),
      );
      this.log(`\nVM image: ${cfg.image}${result.imageBuilt ? ' (just built)' : ''}`);
      this.log(`Firewall: ${result.firewall.state}, ${result.firewall.detail}`);
      this.log('\nNext steps:');
      this.log('  berth user allow alice --plan standard');
      this.log('  berth user key add alice --file alice.pub');
      this.log('  berth vm create alice');
    }
    return result;
  }
}
