import { appArg, appRefArg, viewOf } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { stopApp } from '../../src/services/apps/apps.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppStop extends BerthCommand {
  static override summary = 'Stop an app (it stays down until started; its image and output are kept)';
  static override args = { app: appArg };
  static override examples = ['<%= config.bin %> app stop alice/mybot'];

  async run(): Promise<AppView> {
    const { args } = await this.parse(AppStop);
    const view = viewOf(await stopApp(this.berth, appRefArg(args.app).ref));
    this.log(`Stopped app ${view.ref}; it is ${view.status}.`);
    return view;
  }
}
