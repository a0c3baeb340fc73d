import { appArg, appRefArg } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type AppWebLink, requestAppWebLink } from '../../src/services/access/user-app-web.js';

export default class AppUrl extends BerthCommand {
  static override summary = "A one-time link into the user's app's web address (good once, within 60 s)";
  static override description =
    "The app must have an HTTP port (deployed with --port) and the host a web.apps-domain: the app's address is SCHEME://app--NAME--USER.APPS_DOMAIN/, served at / (the link logs the browser in on berth's address, then into that one app host). HTTP and WebSockets go to the app's port, for its owner only — or for anyone, without a link, where the owner's plan allows public apps (berth plan set PLAN --app-public). Apps are never served at paths of berth's own address.";
  static override args = { app: appArg };
  static override examples = ['<%= config.bin %> app url alice/site', '<%= config.bin %> app url alice/site --json'];

  async run(): Promise<AppWebLink> {
    const { args } = await this.parse(AppUrl);
    const link = await requestAppWebLink(this.store.home, appRefArg(args.app).ref);
    if (!this.jsonEnabled()) {
      this.log(link.url);
      this.note(
        `${link.address} (app ${link.app}): the link works once, until ${link.expiresAt.slice(11, 19)} UTC.${link.public ? ' The address is public: anyone may open it without a link.' : ''}`,
      );
    }
    return link;
  }
}
