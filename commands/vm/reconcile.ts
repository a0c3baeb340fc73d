import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { bulkProgress } from '../../src/cli/progress.js';
import { type ReconcileResult, reconcile } from '../../src/services/nodes/reconcile.js';

export default class VmReconcile extends BerthCommand {
  static override summary = 'Find (and with --fix mend) differences between the state and the engine';
  static override description =
    'Orphans (berth containers no VM record knows) are adopted when their labels name a known user and plan, else removed; volumes are never removed. VMs whose container is gone are recreated on their kept home, bulk.concurrency at a time; what cannot be mended is told (exit code 1, `failed` in --json) and the rest still is.';
  static override flags = { fix: Flags.boolean({ description: 'act on what is found' }) };
  static override examples = ['<%= config.bin %> vm reconcile', '<%= config.bin %> vm reconcile --fix'];

  async run(): Promise<ReconcileResult> {
    const { flags } = await this.parse(VmReconcile);
    const progress = bulkProgress(this.jsonEnabled(), 'mending');
    const result = await reconcile(this.berth, { fix: flags.fix, onProgress: progress.onProgress }).finally(progress.done);
    const found = result.orphans.length + result.missing.length + result.stuck.length;
    for (const o of result.orphans) this.log(`orphan: ${o.name} (${o.id})${o.adoptable ? ' — adoptable' : ''}`);
    for (const ref of result.missing) this.log(`missing container: ${ref}`);
    for (const ref of result.stuck) this.log(`interrupted creation: ${ref}`);
    for (const action of result.actions) this.log(`fixed: ${action}`);
    for (const f of result.failed) this.log(`could not mend ${f.vm}: ${f.error}`);
    if (found === 0) this.log('The state and the engine agree.');
    else if (!flags.fix) this.log('Run again with --fix to mend this.');
    if (result.failed.length) process.exitCode = 1;
    return result;
  }
}
