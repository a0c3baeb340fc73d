import { Args } from '@oclif/core';
import { viewOf } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { appTable } from '../../src/cli/render-apps.js';
import { findUser } from '../../src/domain/lookups.js';
import { listApps } from '../../src/services/apps/apps.js';
import { checkLogin } from '../../src/values/names.js';
import type { AppView } from '../../src/views/app-view.js';

export default class AppList extends BerthCommand {
  static override summary = "List users' apps: status, source, restarts and limits";
  static override args = { user: Args.string({ description: "only this user's apps" }) };
  static override examples = ['<%= config.bin %> app list', '<%= config.bin %> app list alice --json'];

  async run(): Promise<AppView[]> {
    const { args } = await this.parse(AppList);
    if (args.user !== undefined) findUser(await this.store.read(), checkLogin(args.user));
    const views = (await listApps(this.berth, { user: args.user })).map(viewOf);
    this.log(appTable(views, args.user));
    return views;
  }
}
