import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, berthJson } from '../helpers/cli.js';
import { inspect, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { pane, tmux } from '../helpers/terminal.js';

let h: VmHome;
let first: string;
let second: string;
const session = unique('berth-tui-');

const { shows } = pane(session);
/** Whether the pane shows the terminal's alternate screen (1) or its normal one (0). */
const alternateScreen = async (target: string) => (await tmux('display-message', '-p', '-t', target, '#{alternate_on}')).stdout.trim();
const lineOf = (shown: string, text: string) => shown.split('\n').find((l) => l.includes(text)) ?? '';

beforeAll(async () => {
  h = await vmHome();
  // Sorted by user: `first` is the top row, `second` the one below.
  const base = unique('tu');
  first = `${base}a`;
  second = `${base}b`;
  for (const login of [first, second]) {
    await berth(h.home, ['user', 'allow', login]);
    await berthJson(h.home, ['vm', 'create', login]);
  }
});
afterAll(async () => {
  await tmux('kill-session', '-t', session).catch(() => undefined);
  await h.cleanup();
});

describe('berth tui in a real terminal, against the engine', () => {
  it('stops the selected VM: the screen shows it stopped, Docker agrees, and q gives the terminal back', async () => {
    await tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '120',
      '-y',
      '30',
      `env -u CI BERTH_HOME=${h.home} TERM=xterm-256color node ${BIN} tui; echo TUI-ENDED $?; sleep 60`,
    );
    let shown = await shows((s) => lineOf(s, second).includes('running') && lineOf(s, first).includes('running'), 'both VMs running');
    expect(shown).toMatch(/daemon not running/);
    expect(shown).not.toContain('unreachable');
    // The live numbers fill in after the first screen (here from the VMs' cgroup files): CPU % and memory used.
    shown = await shows((s) => /running\s+\d+\.\d\s+\d+\/1024/.test(lineOf(s, first)), 'the first VM with its CPU and memory');
    expect(lineOf(shown, first)).toMatch(/^> /);
    await tmux('send-keys', '-t', session, 'j');
    await shows((s) => lineOf(s, second).startsWith('> '), 'the second VM selected');
    await tmux('send-keys', '-t', session, 'x');
    shown = await shows((s) => /stopped:operator/.test(lineOf(s, second)), 'the second VM stopped');
    expect(lineOf(shown, first)).toContain('running');
    expect((await inspect(await vmContainer(second))).State.Running).toBe(false);
    expect((await inspect(await vmContainer(first))).State.Running).toBe(true);
    // The Events tab has the stop, with who did it.
    await tmux('send-keys', '-t', session, '5');
    shown = await shows((s) => s.includes('EVENT') && lineOf(s, `${second}/main`).includes('stop'), 'the stop event');
    expect(lineOf(shown, `${second}/main`)).toMatch(/stop\s+operator/);
    // The Apps tab is there (nobody has an app here: it says how to deploy one).
    await tmux('send-keys', '-t', session, '6');
    await shows((s) => s.includes('[6 Apps]') && s.includes('no apps (deploy one: berth app deploy USER/NAME SOURCE)'), 'the Apps tab');
    // A resize is followed: at 80 columns fewer key hints fit than at 120.
    await tmux('send-keys', '-t', session, '1');
    await shows((s) => lineOf(s, '[1 VMs]').includes('l logs'), 'more key hints at 120 columns');
    // The logs pane of the running VM opens on its followed logs (the engine's stream, opened within its deadline); Esc closes it.
    await tmux('send-keys', '-t', session, 'k', 'l');
    shown = await shows((s) => s.includes(`logs ${first}/main `), 'the logs pane');
    expect(lineOf(shown, `logs ${first}/main `)).toContain('(following; l or Esc closes)');
    await tmux('send-keys', '-t', session, 'Escape');
    await shows((s) => !s.includes(`logs ${first}/main `), 'the logs pane closed');
    await tmux('resize-window', '-t', session, '-x', '80', '-y', '24');
    shown = await shows((s) => !lineOf(s, '[1 VMs]').includes('l logs') && lineOf(s, '[1 VMs]').endsWith('…'), 'the 80-column layout');
    for (const line of shown.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(lineOf(shown, second)).toContain('stopped');
    expect(await alternateScreen(session)).toBe('1');
    await tmux('send-keys', '-t', session, 'q');
    await shows((s) => s.includes('TUI-ENDED 0'), 'the TUI gone');
    expect(await alternateScreen(session)).toBe('0');
  });

  it('gives the terminal back (normal screen, cursor shown) when killed by SIGTERM or SIGHUP', async () => {
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
      const killed = `${session}-${signal.toLowerCase()}`;
      const pidFile = join(h.home, `tui-${signal}.pid`);
      await tmux(
        'new-session',
        '-d',
        '-s',
        killed,
        '-x',
        '100',
        '-y',
        '24',
        `sh -c 'echo $$ > ${pidFile}; exec env -u CI BERTH_HOME=${h.home} TERM=xterm-256color node ${BIN} tui'; echo TUI-ENDED $?; sleep 30`,
      );
      try {
        const pane = async () => (await tmux('capture-pane', '-p', '-t', killed)).stdout;
        for (let i = 0; i < 100 && !(await pane()).includes('[1 VMs]'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(await alternateScreen(killed)).toBe('1');
        process.kill(Number(await readFile(pidFile, 'utf8')), signal);
        for (let i = 0; i < 100 && !(await pane()).includes('TUI-ENDED'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(await pane()).toMatch(new RegExp(`TUI-ENDED ${128 + osConstants.signals[signal]}`));
        expect(await alternateScreen(killed)).toBe('0');
        expect((await tmux('display-message', '-p', '-t', killed, '#{cursor_flag}')).stdout.trim()).toBe('1');
      } finally {
        await tmux('kill-session', '-t', killed).catch(() => undefined);
      }
    }
  });

  it('refuses clearly when stdout is not a terminal', async () => {
    const run = await berth(h.home, ['tui']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('berth tui needs a terminal');
    expect(run.stderr).toContain('--json');
    expect(run.stdout).toBe('');
  });

  it('refuses clearly in a terminal that cannot draw (TERM=dumb)', async () => {
    const dumb = `${session}-dumb`;
    await tmux(
      'new-session',
      '-d',
      '-s',
      dumb,
      '-x',
      '80',
      '-y',
      '24',
      `env BERTH_HOME=${h.home} TERM=dumb node ${BIN} tui; echo TUI-ENDED $?; sleep 30`,
    );
    try {
      for (let i = 0; i < 100 && !(await tmux('capture-pane', '-p', '-t', dumb)).stdout.includes('TUI-ENDED'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const shown = (await tmux('capture-pane', '-p', '-J', '-t', dumb)).stdout;
      expect(shown).toContain('TERM is "dumb"');
      expect(shown).toContain('TUI-ENDED 1');
    } finally {
      await tmux('kill-session', '-t', dumb).catch(() => undefined);
    }
  });
});
