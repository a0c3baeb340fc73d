import { BerthCommand } from '../../src/cli/base-command.js';
import { planTable } from '../../src/cli/render.js';
import { listPlans } from '../../src/services/people/plans.js';
import { type PlanView, planView } from '../../src/views/plan-view.js';

export default class PlanList extends BerthCommand {
  static override summary = 'List plans with their resources and users';
  static override examples = ['<%= config.bin %> plan list', '<%= config.bin %> plan list --json'];

  async run(): Promise<PlanView[]> {
    await this.parse(PlanList);
    const { plans, state } = await listPlans(this.store);
    const views = plans.map((p) => planView(p, state));
    this.log(planTable(views));
    return views;
  }
}
