import { BerthCommand } from '../../src/cli/base-command.js';
import { ensureFirewall, type FirewallReport } from '../../src/services/firewall.js';

export default class NetworkApply extends BerthCommand {
  static override summary = "Install or repair the host firewall rules of the VMs' network (idempotent)";
  static override description =
    'Makes the network when it does not exist. Nothing is written when the rules are already in place. Needs root.';
  static override examples = ['<%= config.bin %> network apply', '<%= config.bin %> network apply --json'];

  async run(): Promise<FirewallReport> {
    await this.parse(NetworkApply);
    const report = await ensureFirewall(this.berth);
    this.log(`${report.state}: ${report.detail}`);
    for (const p of report.problems) this.log(`  fixed: ${p}`);
    if (report.state === 'ok' && report.changes.length === 0) this.log('  (already in place; nothing changed)');
    return report;
  }
}
