import { BerthCommand } from '../../src/cli/base-command.js';
import { applyFirewalls, type FirewallOverview } from '../../src/services/nodes/node-firewalls.js';

export default class NetworkApply extends BerthCommand {
  static override summary = "Install or repair the host firewall rules of the VMs' network (idempotent; on Swarm, on every node)";
  static override description =
    "Makes the network when it does not exist. Nothing is written when the rules are already in place. Needs root. On Swarm the same rules go on every node, through its engine (a short-lived container of berth's VM image that runs the node's own iptables); a node whose rules cannot be installed gets no VMs, and the command exits 1.";
  static override examples = ['<%= config.bin %> network apply', '<%= config.bin %> network apply --json'];

  async run(): Promise<FirewallOverview> {
    await this.parse(NetworkApply);
    const report = await applyFirewalls(this.berth);
    for (const r of [report, ...(report.nodes ?? [])]) {
      const where = r.node ? `node ${r.node}: ` : '';
      this.log(`${where}${r.state}: ${r.detail}`);
      for (const p of r.problems) this.log(`  fixed: ${p}`);
      if (r.state === 'ok' && r.changes.length === 0) this.log('  (already in place; nothing changed)');
    }
    if (report.nodes?.some((n) => n.state !== 'ok')) process.exitCode = 1;
    return report;
  }
}
