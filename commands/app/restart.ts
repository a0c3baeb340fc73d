import { appArg, appRefArg, viewOf } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { forceFlag } from '../../src/cli/vm-flags.js';
import { operator } from '../../src/domain/actor.js';
import { restartApp } from '../../src/services/apps/apps.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppRestart extends BerthCommand {
  static override summary = 'Restart an app (the same image; deploy again for new code)';
  static override args = { app: appArg };
  static override flags = { force: forceFlag };
  static override examples = ['<%= config.bin %> app restart alice/mybot'];

  async run(): Promise<AppView> {
    const { args, flags } = await this.parse(AppRestart);
    const view = viewOf(await restartApp(this.berth, appRefArg(args.app).ref, operator(flags.force)));
    this.log(`Restarted app ${view.ref}; it is ${view.status}.`);
    return view;
  }
}
