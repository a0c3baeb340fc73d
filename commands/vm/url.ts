import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { requestWebLink, type WebLink } from '../../src/services/access/web-links.js';

export default class VmUrl extends BerthCommand {
  static override summary = "A one-time link to the web app on a port of the user's VM (good once, within 60 s)";
  static override description =
    "With web.apps-domain, the app has an origin of its own, SCHEME://PORT--VM--USER.APPS_DOMAIN/, served at / (the link logs the browser in on berth's address, then into that one app host). With web.path-apps on instead, it lands on /vm/USER/VM/PORT/ of web.public-url, and the app sees the whole path (run it under that prefix), or with --strip the path without the prefix. Either way HTTP and WebSockets go to that port of the VM, for its owner only; the app must listen on all addresses (0.0.0.0).";
  static override args = {
    vm: vmArg,
    port: Args.string({ description: 'the TCP port the app listens on in the VM', required: true }),
  };
  static override flags = {
    strip: Flags.boolean({
      description:
        'path apps: land on /app/USER/VM/PORT/, the app is sent the path without that prefix (apps with relative links that serve at /, e.g. code-server)',
    }),
  };
  static override examples = [
    '<%= config.bin %> vm url alice 8000',
    '<%= config.bin %> vm url alice/web 8888 --json',
    '<%= config.bin %> vm url alice 8080 --strip',
  ];

  async run(): Promise<WebLink> {
    const { args, flags } = await this.parse(VmUrl);
    const link = await requestWebLink(this.store.home, args.vm, args.port, flags.strip);
    if (!this.jsonEnabled()) {
      this.log(link.url);
      this.note(`${link.app ?? link.path} of ${link.vm}: works once, until ${link.expiresAt.slice(11, 19)} UTC.`);
    }
    return link;
  }
}
