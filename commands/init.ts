import { BerthCommand } from '../src/cli/base-command.js';
import { type InitResult, initHome } from '../src/services/setup/init.js';

export default class Init extends BerthCommand {
  static override summary = 'Create the berth home, its state file and the default plans';
  static override description = 'Safe to run again: an existing state file is left as it is.';
  static override examples = ['<%= config.bin %> init', 'BERTH_HOME=/srv/berth <%= config.bin %> init --json'];

  async run(): Promise<InitResult> {
    await this.parse(Init);
    const result = await initHome(this.store);
    this.log(result.created ? `Initialised berth in ${result.home}` : `berth is already initialised in ${result.home}`);
    this.log(`State file: ${result.stateFile}`);
    this.log(`Plans: ${result.plans.join(', ') || 'none'}`);
    this.log('\nNext steps:');
    this.log('  berth user allow alice --plan standard            # let a user in');
    this.log('  berth user key add alice --file alice.pub         # register their SSH key');
    this.log('  berth config set ram 2g                           # change a global default');
    return result;
  }
}
