import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { requestWebLink, type WebLink } from '../../src/services/access/web-links.js';

export default class VmWebTerminal extends BerthCommand {
  static override summary = "A one-time link to a terminal of the user's VM in a browser (good once, within 60 s)";
  static override description =
    "The running daemon mints the link (its web server keeps the ticket, hashed, in memory only). Give it to the VM's owner: opening it logs their browser in (a cookie) for web.session-idle / web.session-max.";
  static override args = { vm: vmArg };
  static override examples = ['<%= config.bin %> vm web-terminal alice', '<%= config.bin %> vm web-terminal alice/web --json'];

  async run(): Promise<WebLink> {
    const { args } = await this.parse(VmWebTerminal);
    const link = await requestWebLink(this.store.home, args.vm);
    if (!this.jsonEnabled()) {
      this.log(link.url);
      this.note(`The terminal of ${link.vm}: works once, until ${link.expiresAt.slice(11, 19)} UTC.`);
    }
    return link;
  }
}
