import { Flags } from '@oclif/core';
import { BerthCommand } from '../src/cli/base-command.js';
import { down } from '../src/services/up.js';

export default class Down extends BerthCommand {
  static override summary = 'Stop the daemon (VMs keep running unless --stop-vms)';
  static override flags = { 'stop-vms': Flags.boolean({ description: 'also stop every running VM' }) };
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --stop-vms'];

  async run(): Promise<{ daemonStopped: boolean; stoppedVms: string[] }> {
    const { flags } = await this.parse(Down);
    const { daemonPid, stoppedVms } = await down(this.berth, { stopVms: flags['stop-vms'] });
    this.log(daemonPid ? `Stopped the berth daemon (pid ${daemonPid}).` : 'The berth daemon was not running.');
    if (flags['stop-vms']) this.log(`Stopped ${stoppedVms.length} VM(s)${stoppedVms.length ? `: ${stoppedVms.join(', ')}` : ''}.`);
    return { daemonStopped: daemonPid !== null, stoppedVms };
  }
}
