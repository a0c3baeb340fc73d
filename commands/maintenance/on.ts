import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { bulkProgress } from '../../src/cli/progress.js';
import { resultLines } from '../../src/cli/render-maintenance.js';
import { enterMaintenance, type MaintenanceResult } from '../../src/services/nodes/maintenance.js';

export default class MaintenanceOn extends BerthCommand {
  static override summary = 'Turn maintenance on: stop every running VM and block create/start for non-admins';
  static override description =
    'VMs are stopped bulk.concurrency at a time; one that cannot be stopped is told (exit code 1, `failed` in --json) and the others still are.';
  static override flags = { reason: Flags.string({ description: 'shown to users in every front-end' }) };
  static override examples = ['<%= config.bin %> maintenance on --reason "kernel upgrade"'];

  async run(): Promise<MaintenanceResult> {
    const { flags } = await this.parse(MaintenanceOn);
    const progress = bulkProgress(this.jsonEnabled(), 'stopping VMs');
    const result = await enterMaintenance(this.berth, {
      reason: flags.reason,
      source: 'operator',
      onProgress: progress.onProgress,
    }).finally(progress.done);
    for (const line of resultLines('Stopped', result)) this.log(line);
    if (result.failed.length) process.exitCode = 1;
    return result;
  }
}
