import { appArg, appRefArg, viewOf } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { appDetails } from '../../src/cli/render-apps.js';
import { getApp } from '../../src/services/apps/apps.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppShow extends BerthCommand {
  static override summary = 'Show one app: status, source, limits, last build, variables, secret names';
  static override description =
    "Variables are shown with their values (they are not secrets); secrets by name only: their values stay encrypted in the user's secrets.";
  static override args = { app: appArg };
  static override examples = ['<%= config.bin %> app show alice/mybot', '<%= config.bin %> app show alice/mybot --json'];

  async run(): Promise<AppView> {
    const { args } = await this.parse(AppShow);
    const view = viewOf(await getApp(this.berth, appRefArg(args.app).ref));
    this.log(appDetails(view));
    return view;
  }
}
