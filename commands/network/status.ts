import { BerthCommand } from '../../src/cli/base-command.js';
import { type FirewallReport, firewallStatus } from '../../src/services/firewall.js';

export default class NetworkStatus extends BerthCommand {
  static override summary = 'Show whether the host firewall rules are in place and match the policy';
  static override description = 'States: ok, missing, drifted, unavailable, off, unsupported. Exits 1 unless ok or off.';
  static override examples = ['<%= config.bin %> network status', '<%= config.bin %> network status --json'];

  async run(): Promise<FirewallReport> {
    await this.parse(NetworkStatus);
    const report = await firewallStatus(this.berth);
    this.log(`${report.state}: ${report.detail}`);
    this.log(`  network ${report.network}, bridge ${report.bridge ?? '-'}, chains ${report.chains.join(', ')}`);
    for (const p of report.problems) this.log(`  ${p}`);
    if (report.state !== 'ok' && report.state !== 'off') process.exitCode = 1;
    return report;
  }
}
