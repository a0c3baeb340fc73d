import { BerthCommand } from '../../src/cli/base-command.js';
import { removeFirewalls } from '../../src/services/nodes/node-firewalls.js';

export default class NetworkRemove extends BerthCommand {
  static override summary = "Remove this berth home's firewall chains and jumps (VMs are then not isolated); on Swarm, on every node";
  static override description =
    'Only the chains named after this home (BERTH-IN-<id>, BERTH-FWD-<id>) and the jumps into them are removed. berth up, the daemon and vm create install them again unless network.firewall is off.';
  static override examples = ['<%= config.bin %> network remove'];

  async run(): Promise<{ removed: string[]; failed: string[] }> {
    await this.parse(NetworkRemove);
    const result = await removeFirewalls(this.berth);
    this.log(
      result.removed.length ? `Removed:\n${result.removed.map((l) => `  ${l}`).join('\n')}` : 'No rules of this home were installed.',
    );
    for (const f of result.failed) this.warn(`not removed on node ${f}`);
    if (result.failed.length) process.exitCode = 1;
    return result;
  }
}
