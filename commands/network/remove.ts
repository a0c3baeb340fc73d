import { BerthCommand } from '../../src/cli/base-command.js';
import { removeFirewall } from '../../src/services/firewall.js';

export default class NetworkRemove extends BerthCommand {
  static override summary = "Remove this berth home's firewall chains and jumps (VMs are then not isolated)";
  static override description =
    'Only the chains named after this home (BERTH-IN-<id>, BERTH-FWD-<id>) and the jumps into them are removed. berth up, the daemon and vm create install them again unless network.firewall is off.';
  static override examples = ['<%= config.bin %> network remove'];

  async run(): Promise<{ removed: string[] }> {
    await this.parse(NetworkRemove);
    const result = await removeFirewall(this.berth);
    this.log(
      result.removed.length ? `Removed:\n${result.removed.map((l) => `  ${l}`).join('\n')}` : 'No rules of this home were installed.',
    );
    return result;
  }
}
