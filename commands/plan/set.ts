import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { planFlags, planSpecFrom } from '../../src/cli/plan-flags.js';
import { setPlan } from '../../src/services/people/plans.js';
import { appLimitsSummary, type PlanView, planSummary, planView } from '../../src/views/plan-view.js';

export default class PlanSet extends BerthCommand {
  static override summary = "Change a plan's resources or description";
  static override description =
    'Running VMs keep their resources until they are re-created; apps keep theirs until they are deployed again.';
  static override args = { name: Args.string({ description: 'plan name', required: true }) };
  static override flags = planFlags;
  static override examples = [
    '<%= config.bin %> plan set standard --ram 6g',
    '<%= config.bin %> plan set pro --max-vms 3',
    '<%= config.bin %> plan set basic --apps 2 --app-ram 128m --app-pids 64',
    '<%= config.bin %> plan set pro --app-lifetime 7d --app-public',
  ];

  async run(): Promise<PlanView> {
    const { args, flags } = await this.parse(PlanSet);
    const plan = await setPlan(this.store, args.name, planSpecFrom(flags));
    const view = planView(plan, await this.store.read());
    this.log(`Updated plan ${view.name}: ${planSummary(view)}; apps: ${appLimitsSummary(view)}.`);
    return view;
  }
}
