import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type ReconcileResult, reconcile } from '../../src/services/reconcile.js';

export default class VmReconcile extends BerthCommand {
  static override summary = 'Find (and with --fix mend) differences between the state and the engine';
  static override description =
    'Orphans (berth containers no VM record knows) are adopted when their labels name a known user and plan, else removed; volumes are never removed. VMs whose container is gone are recreated on their kept home.';
  static override flags = { fix: Flags.boolean({ description: 'act on what is found' }) };
  static override examples = ['<%= config.bin %> vm reconcile', '<%= config.bin %> vm reconcile --fix'];

  async run(): Promise<ReconcileResult> {
    const { flags } = await this.parse(VmReconcile);
    const result = await reconcile(this.berth, { fix: flags.fix });
    const found = result.orphans.length + result.missing.length + result.stuck.length;
    for (const o of result.orphans) this.log(`orphan: ${o.name} (${o.id})${o.adoptable ? ' — adoptable' : ''}`);
    for (const ref of result.missing) this.log(`missing container: ${ref}`);
    for (const ref of result.stuck) this.log(`interrupted creation: ${ref}`);
    for (const action of result.actions) this.log(`fixed: ${action}`);
    if (found === 0) this.log('The state and the engine agree.');
    else if (!flags.fix) this.log('Run again with --fix to mend this.');
    return result;
  }
}
