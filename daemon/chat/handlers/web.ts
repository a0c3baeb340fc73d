import { BerthError } from '../../../src/errors.js';
import { mintWebLink } from '../../../src/services/access/web-links.js';
import { printable } from '../../../src/values/names.js';
import { checkPort, type WebTarget } from '../../../src/values/web-paths.js';
import type { CoreAccess, Handler } from '../handler.js';
import { link as linkSpan, type Span } from '../message.js';
import { loginOf, pickOwnVm, usage } from '../sender.js';
import type { Turn } from '../turn.js';

/**
 * /web_terminal [vm] (alias /terminal) and /open PORT [vm]: a one-time link to the sender's own
 * VM — its terminal, or its web app on PORT — good once, within 60 s. Private like every reply.
 */
async function link(turn: Turn, core: CoreAccess, vmName: string | undefined, target: WebTarget): Promise<void> {
  const web = core.deps.web;
  if (!web?.running()) {
    throw new BerthError('WEB_NOT_RUNNING', 'The web terminal is not available on this host now.', 'Ask the operator, or use /ssh.');
  }
  const hint = (n: string) => (target.kind === 'terminal' ? `/web_terminal ${n}` : `/open ${target.port} ${n}`);
  const vm = pickOwnVm(turn.sender.state, loginOf(turn), vmName, hint);
  const made = await mintWebLink(core.deps.ctx, web.book, vm, target);
  const what = target.kind === 'terminal' ? `the terminal of ${vm.name}` : `port ${target.port} of ${vm.name}`;
  core.deps.log.info({ user: vm.user, vm: made.vm, path: made.path, frontEnd: turn.account.frontEnd }, 'web link given');
  // With web.apps-domain the app has an address of its own: the link ends there (after berth's login).
  const text: Span[] = [
    '🔗 ',
    linkSpan(`Open ${what}`, made.url),
    '\nThe link works once, within 60 seconds; it logs this browser in for a while.',
    ...(made.app ? [`\nThe app's own address: ${made.app}`] : []),
  ];
  // No preview: nothing but the person's browser opens the link.
  await turn.reply({ text, noPreview: true });
}

const terminal: Handler = async (turn, core) => {
  if (turn.args._extra) throw usage('Name at most one VM.', 'For example: /web_terminal or /web_terminal web');
  await link(turn, core, turn.args.vm?.trim() || undefined, { kind: 'terminal' });
};

const open: Handler = async (turn, core) => {
  const portText = turn.args.port?.trim();
  if (!portText || turn.args._extra) {
    throw usage(
      portText ? 'Give a port and at most one VM.' : 'Give the port your web app listens on.',
      'For example: /open 8000 (or /open 8000 web for your VM web; add strip for an app that serves at /). /status lists the ports that listen.',
    );
  }
  const strip = turn.args.strip?.trim();
  if (strip && strip !== 'strip') throw usage(`"${printable(strip, 20)}" is not "strip".`, 'Leave it out, or give strip.');
  let port: number;
  try {
    port = checkPort(portText);
  } catch {
    throw usage(`"${printable(portText, 20)}" is not a port.`, 'Give a port from 1 to 65535, e.g. /open 8000');
  }
  await link(turn, core, turn.args.vm?.trim() || undefined, { kind: 'app', port, strip: strip === 'strip' });
};

export const webHandlers: Record<string, Handler> = { web_terminal: terminal, open };
