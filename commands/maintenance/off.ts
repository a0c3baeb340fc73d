import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { bulkProgress } from '../../src/cli/progress.js';
import { resultLines } from '../../src/cli/render-maintenance.js';
import { leaveMaintenance, type MaintenanceResult } from '../../src/services/nodes/maintenance.js';

export default class MaintenanceOff extends BerthCommand {
  static override summary = 'Turn maintenance off and start again the VMs it stopped';
  static override description =
    'VMs are started bulk.concurrency at a time; one that cannot be started is told (exit code 1, `failed` in --json) and the others still are.';
  static override flags = {
    restore: Flags.boolean({ description: 'start again the VMs maintenance stopped', default: true, allowNo: true }),
  };
  static override examples = ['<%= config.bin %> maintenance off', '<%= config.bin %> maintenance off --no-restore'];

  async run(): Promise<MaintenanceResult> {
    const { flags } = await this.parse(MaintenanceOff);
    const progress = bulkProgress(this.jsonEnabled(), 'starting VMs');
    const result = await leaveMaintenance(this.berth, { restore: flags.restore, onProgress: progress.onProgress }).finally(progress.done);
    for (const line of resultLines('Started again', result)) this.log(line);
    if (result.failed.length) process.exitCode = 1;
    return result;
  }
}
