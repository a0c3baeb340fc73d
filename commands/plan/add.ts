import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { planFlags, planSpecFrom } from '../../src/cli/plan-flags.js';
import { addPlan } from '../../src/services/people/plans.js';
import { appLimitsSummary, type PlanView, planSummary, planView } from '../../src/views/plan-view.js';

export default class PlanAdd extends BerthCommand {
  static override summary = 'Add a plan';
  static override description = 'CPU and RAM left out follow the global defaults (berth config set cpu|ram).';
  static override args = { name: Args.string({ description: 'plan name (lowercase letters, digits, -)', required: true }) };
  static override flags = planFlags;
  static override examples = [
    '<%= config.bin %> plan add student --cpu 0.5 --ram 512m --description "For courses"',
    '<%= config.bin %> plan add gpu-lab --cpu 8 --ram 32g --gpu 2 --max-vms 2',
    '<%= config.bin %> plan add bots --apps 5 --app-cpu 0.25 --app-ram 128m --app-lifetime 0',
  ];

  async run(): Promise<PlanView> {
    const { args, flags } = await this.parse(PlanAdd);
    const plan = await addPlan(this.store, args.name, planSpecFrom(flags));
    const view = planView(plan, await this.store.read());
    this.log(`Added plan ${view.name}: ${planSummary(view)}; apps: ${appLimitsSummary(view)}.`);
    return view;
  }
}
