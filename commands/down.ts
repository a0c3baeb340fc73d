import { Flags } from '@oclif/core';
import { BerthCommand } from '../src/cli/base-command.js';
import { stopDaemon } from '../src/services/daemon-control.js';
import { vmRef } from '../src/services/vm-refs.js';
import { stopVm } from '../src/services/vms.js';

export default class Down extends BerthCommand {
  static override summary = 'Stop the daemon (VMs keep running unless --stop-vms)';
  static override flags = { 'stop-vms': Flags.boolean({ description: 'also stop every running VM' }) };
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --stop-vms'];

  async run(): Promise<{ daemonStopped: boolean; stoppedVms: string[] }> {
    const { flags } = await this.parse(Down);
    const result = await stopDaemon(this.store.home);
    const stoppedVms: string[] = [];
    if (flags['stop-vms']) {
      for (const vm of (await this.store.read()).vms.filter((v) => v.desired === 'running' && v.phase === 'ready')) {
        await stopVm(this.berth, vmRef(vm));
        stoppedVms.push(vmRef(vm));
      }
    }
    if (!this.jsonEnabled()) {
      this.log(result ? `Stopped the berth daemon (pid ${result.pid}).` : 'The berth daemon was not running.');
      if (flags['stop-vms']) this.log(`Stopped ${stoppedVms.length} VM(s)${stoppedVms.length ? `: ${stoppedVms.join(', ')}` : ''}.`);
    }
    return { daemonStopped: Boolean(result), stoppedVms };
  }
}
