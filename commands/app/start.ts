import { appArg, appRefArg, viewOf } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { forceFlag } from '../../src/cli/vm-flags.js';
import { operator } from '../../src/domain/actor.js';
import { startApp } from '../../src/services/apps/apps.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppStart extends BerthCommand {
  static override summary = 'Start a stopped or crashed app (its crash count starts again)';
  static override args = { app: appArg };
  static override flags = { force: forceFlag };
  static override examples = ['<%= config.bin %> app start alice/mybot'];

  async run(): Promise<AppView> {
    const { args, flags } = await this.parse(AppStart);
    const view = viewOf(await startApp(this.berth, appRefArg(args.app).ref, operator(flags.force)));
    this.log(`Started app ${view.ref}; it is ${view.status}.`);
    return view;
  }
}
