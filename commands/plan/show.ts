import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { planDetails } from '../../src/cli/render.js';
import { findPlan } from '../../src/domain/lookups.js';
import { type PlanView, planView } from '../../src/views/plan-view.js';

export default class PlanShow extends BerthCommand {
  static override summary = 'Show one plan';
  static override args = { name: Args.string({ description: 'plan name', required: true }) };
  static override examples = ['<%= config.bin %> plan show standard'];

  async run(): Promise<PlanView> {
    const { args } = await this.parse(PlanShow);
    const state = await this.store.read();
    const view = planView(findPlan(state, args.name), state);
    this.log(planDetails(view));
    return view;
  }
}
