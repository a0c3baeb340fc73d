import { Flags } from '@oclif/core';
import { BerthCommand } from '../src/cli/base-command.js';
import { bulkProgress } from '../src/cli/progress.js';
import { down } from '../src/services/setup/up.js';
import type { BulkFailure } from '../src/services/vm/vm-bulk.js';

export default class Down extends BerthCommand {
  static override summary = 'Stop the daemon (VMs keep running unless --stop-vms)';
  static override description =
    'With --stop-vms the VMs are stopped bulk.concurrency at a time; one that cannot be stopped is told (exit code 1, `failed` in --json) and the others still are.';
  static override flags = { 'stop-vms': Flags.boolean({ description: 'also stop every running VM' }) };
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --stop-vms'];

  async run(): Promise<{ daemonStopped: boolean; stoppedVms: string[]; failed: BulkFailure[] }> {
    const { flags } = await this.parse(Down);
    const progress = bulkProgress(this.jsonEnabled(), 'stopping VMs');
    const { daemonPid, stoppedVms, failed } = await down(this.berth, {
      stopVms: flags['stop-vms'],
      onProgress: progress.onProgress,
    }).finally(progress.done);
    this.log(daemonPid ? `Stopped the berth daemon (pid ${daemonPid}).` : 'The berth daemon was not running.');
    if (flags['stop-vms']) this.log(`Stopped ${stoppedVms.length} VM(s)${stoppedVms.length ? `: ${stoppedVms.join(', ')}` : ''}.`);
    for (const f of failed) this.log(`could not stop ${f.vm}: ${f.error}`);
    if (failed.length) process.exitCode = 1;
    return { daemonStopped: daemonPid !== null, stoppedVms, failed };
  }
}
