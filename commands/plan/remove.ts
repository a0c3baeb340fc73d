import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { removePlan } from '../../src/services/people/plans.js';

export default class PlanRemove extends BerthCommand {
  static override summary = 'Remove a plan no user is on';
  static override args = { name: Args.string({ description: 'plan name', required: true }) };
  static override examples = ['<%= config.bin %> plan remove student'];

  async run(): Promise<{ removed: string }> {
    const { args } = await this.parse(PlanRemove);
    const plan = await removePlan(this.store, args.name);
    this.log(`Removed plan ${plan.name}.`);
    return { removed: plan.name };
  }
}
