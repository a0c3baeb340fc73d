import { appArg, appRefArg } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { appRef } from '../../src/domain/apps.js';
import { removeApp } from '../../src/services/apps/apps.js';
import type { AppRemovedView } from '../../src/views/app-view.js';

export default class AppRemove extends BerthCommand {
  static override summary = 'Remove an app: its container and the image berth built for it';
  static override description = "It asks nothing. The user's secrets stay; deploy again to have the app back.";
  static override args = { app: appArg };
  static override examples = ['<%= config.bin %> app remove alice/mybot', '<%= config.bin %> app remove alice/mybot --json'];

  async run(): Promise<AppRemovedView> {
    const { args } = await this.parse(AppRemove);
    const app = await removeApp(this.berth, appRefArg(args.app).ref);
    this.log(`Removed app ${appRef(app)}.`);
    return { removed: appRef(app), id: app.id };
  }
}
