import { BerthCommand } from '../../src/cli/base-command.js';
import { type FirewallOverview, firewallsStatus } from '../../src/services/nodes/node-firewalls.js';

export default class NetworkStatus extends BerthCommand {
  static override summary = 'Show whether the host firewall rules are in place and match the policy (on Swarm, on every node)';
  static override description =
    'States: ok, missing, drifted, unavailable, off, unsupported. Exits 1 unless ok or off (here and on every node).';
  static override examples = ['<%= config.bin %> network status', '<%= config.bin %> network status --json'];

  async run(): Promise<FirewallOverview> {
    await this.parse(NetworkStatus);
    const report = await firewallsStatus(this.berth);
    for (const r of [report, ...(report.nodes ?? [])]) {
      this.log(`${r.node ? `node ${r.node}: ` : ''}${r.state}: ${r.detail}`);
      if (!r.node) this.log(`  network ${r.network}, bridge ${r.bridge ?? '-'}, chains ${r.chains.join(', ')}`);
      else if (r.bridge) this.log(`  bridge ${r.bridge}`);
      for (const p of r.problems) this.log(`  ${p}`);
    }
    if ([report, ...(report.nodes ?? [])].some((r) => r.state !== 'ok' && r.state !== 'off')) process.exitCode = 1;
    return report;
  }
}
