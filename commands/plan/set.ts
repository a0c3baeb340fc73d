import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { planFlags, planSpecFrom } from '../../src/cli/plan-flags.js';
import { setPlan } from '../../src/services/people/plans.js';
import { type PlanView, planSummary, planView } from '../../src/views/plan-view.js';

export default class PlanSet extends BerthCommand {
  static override summary = "Change a plan's resources or description";
  static override description = 'Running VMs keep their resources until they are re-created.';
  static override args = { name: Args.string({ description: 'plan name', required: true }) };
  static override flags = planFlags;
  static override examples = ['<%= config.bin %> plan set standard --ram 6g', '<%= config.bin %> plan set pro --max-vms 3'];

  async run(): Promise<PlanView> {
    const { args, flags } = await this.parse(PlanSet);
    const plan = await setPlan(this.store, args.name, planSpecFrom(flags));
    const view = planView(plan, await this.store.read());
    this.log(`Updated plan ${view.name}: ${planSummary(view)}.`);
    return view;
  }
}
