import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, berthJson } from '../helpers/cli.js';
import { unique, type VmHome, vmHome } from '../helpers/docker.js';
import { pane, tmux } from '../helpers/terminal.js';

let h: VmHome;
let login: string;
const session = unique('berth-shell-');

const { screen, shows } = pane(session);

beforeAll(async () => {
  h = await vmHome();
  login = unique('sh');
  await berth(h.home, ['user', 'allow', login]);
  await berthJson(h.home, ['vm', 'create', login]);
});
afterAll(async () => {
  await tmux('kill-session', '-t', session).catch(() => undefined);
  await h.cleanup();
});

describe('berth vm shell in a real terminal', () => {
  it('opens a shell as the user that follows the terminal size, and gives the terminal back', async () => {
    await tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '80',
      '-y',
      '24',
      `BERTH_HOME=${h.home} node ${BIN} vm shell ${login}; echo SHELL-ENDED $?; sleep 30`,
    );
    await shows(/\$\s*$/m);
    // Asked until answered: under load the first query can land before the terminal is sized.
    for (let i = 0; i < 10 && !/^24 80$/m.test(await screen()); i++) {
      await tmux('send-keys', '-t', session, 'id -un; stty size', 'Enter');
      await new Promise((r) => setTimeout(r, 500));
    }
    await shows(/^24 80$/m);
    expect(await screen()).toContain(login);
    await tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 10 && !/^30 100$/m.test(await screen()); i++) {
      await tmux('send-keys', '-t', session, 'clear; stty size', 'Enter');
      await new Promise((r) => setTimeout(r, 500));
    }
    await shows(/^30 100$/m);
    await tmux('send-keys', '-t', session, 'exit 4', 'Enter');
    await shows(/SHELL-ENDED 4/);
  });
});
