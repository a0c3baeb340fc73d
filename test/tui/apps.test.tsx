import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/tui/app.js';
import { appRow, FakeSource } from './fake-source.js';

const ESC = '\u001b';
const ENTER = '\r';

afterEach(() => cleanup());

function open(source: FakeSource, width = 110, height = 30) {
  const app = render(<App source={source} refreshMs={40} colour={false} width={width} height={height} initial={{ tab: 'Apps' }} />);
  const frame = () => app.lastFrame() ?? '';
  const waitFor = async (test: (frame: string) => boolean, what: string) => {
    for (let i = 0; i < 150; i++) {
      if (test(frame())) return frame();
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the screen never showed ${what}:\n${frame()}`);
  };
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      app.stdin.write(key);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const row = (text: string) =>
    frame()
      .split('\n')
      .find((l) => l.includes(text)) ?? '';
  return { app, frame, waitFor, press, row };
}

function withApps() {
  const source = new FakeSource();
  source.apps = [
    appRow('alice', 'bot', { restarts: 2 }),
    appRow('bob', 'web', { status: 'crashed', startedAt: null, cpuPercent: null, memoryUsedBytes: null, restarts: 5 }),
    appRow('carol', 'job', { status: 'stopped', stopReason: 'lifetime', cpuPercent: null, memoryUsedBytes: null }),
  ];
  source.appOutput.set('alice/bot', 'bot started\npolling updates\n\u001b[31mred\u001b[0m line\n');
  return source;
}

describe('berth tui, the Apps tab', () => {
  it('is a tab of its own, listed after the others (6 on one engine); 6 opens it', async () => {
    const source = withApps();
    const app = render(<App source={source} refreshMs={40} colour={false} width={110} height={30} />);
    const frame = () => app.lastFrame() ?? '';
    for (let i = 0; i < 100 && !frame().includes('alice'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(frame()).toContain(' 6 Apps ');
    app.stdin.write('6');
    for (let i = 0; i < 100 && !frame().includes('[6 Apps]'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(frame()).toContain('[6 Apps]');
    expect(frame()).toMatch(/USER\s+APP\s+STATUS\s+RESTARTS\s+UPTIME\s+CPU%\s+MEM MB/);
  });

  it('lists each app with its status, restarts, uptime, live CPU and memory used/limit; – where there is no number', async () => {
    const ui = open(withApps());
    await ui.waitFor((f) => f.includes('carol') && ui.row('alice').includes('2.5'), 'the apps with their numbers');
    expect(ui.row('alice')).toMatch(/^> alice\s+bot\s+running\s+2\s+1h00\s+2\.5\s+40\/256/);
    expect(ui.row('bob')).toMatch(/bob\s+web\s+crashed\s+5\s+–\s+–\s+–\/256/);
    expect(ui.row('carol')).toMatch(/carol\s+job\s+stopped:lifetime\s+0\s+–/);
  });

  it("shows the selected app's last output, without escape sequences, and says why when there is none", async () => {
    const source = withApps();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('polling updates'), "alice/bot's output");
    expect(ui.frame()).toContain('output of app alice/bot (last 3 line(s)');
    expect(ui.frame()).toContain('red line');
    expect(ui.frame()).not.toContain('\u001b[31m');
    expect(source.appLogReads[0]).toBe('alice/bot 50');
    // Read again: new output shows without a key.
    source.appOutput.set('alice/bot', 'bot started\npolling updates\nupdate 1 handled\n');
    await ui.waitFor((f) => f.includes('update 1 handled'), 'the new output');
    await ui.press('j');
    await ui.waitFor(
      (f) => f.includes('output of app bob/web (The app bob/web has no output yet. Deploy or start it first.)'),
      "bob/web's pane",
    );
    expect(ui.frame()).not.toContain('polling updates');
  });

  it('x asks before stopping the selected app: Esc cancels, y stops it', async () => {
    const source = withApps();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('carol'), 'the apps');
    await ui.press('x');
    await ui.waitFor((f) => f.includes('Stop app alice/bot?'), 'the question');
    expect(ui.frame()).toContain('[y/Enter] stop');
    await ui.press(ESC);
    await ui.waitFor((f) => !f.includes('Stop app'), 'the question gone');
    expect(source.calls).toEqual([]);
    await ui.press('x', 'y');
    await ui.waitFor(() => /stopped:operator/.test(ui.row('alice')), 'alice/bot stopped');
    expect(source.calls).toEqual(['app-stop alice/bot']);
    expect(ui.frame()).toContain('stop app alice/bot: done');
  });

  it('s starts a stopped app and r restarts one, each after its question; s on a running app says so', async () => {
    const source = withApps();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('carol'), 'the apps');
    await ui.press('s');
    await ui.waitFor((f) => f.includes('The app alice/bot is already running (r restarts it).'), 'the refusal');
    expect(ui.frame()).not.toContain('Start app');
    await ui.press('r');
    await ui.waitFor((f) => f.includes('Restart app alice/bot?'), 'the restart question');
    await ui.press(ENTER);
    await ui.waitFor(() => source.calls.includes('app-restart alice/bot'), 'the restart');
    await ui.press('j', 'j', 's');
    await ui.waitFor((f) => f.includes('Start app carol/job?'), 'the start question');
    expect(source.calls).toEqual(['app-restart alice/bot']);
    await ui.press('y');
    await ui.waitFor(() => /carol\s+job\s+running/.test(ui.row('carol')), 'carol/job running');
    expect(source.calls).toEqual(['app-restart alice/bot', 'app-start carol/job']);
  });

  it('keys pasted with the one that asks ("xy") do not answer the question', async () => {
    const source = withApps();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('carol'), 'the apps');
    await ui.press('xy');
    await ui.waitFor((f) => f.includes('Stop app alice/bot?'), 'the question');
    await new Promise((r) => setTimeout(r, 100));
    expect(source.calls).toEqual([]);
    expect(ui.frame()).toContain('Stop app alice/bot?');
  });

  it('a failed action is said in the status line, not thrown', async () => {
    const source = withApps();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('carol'), 'the apps');
    source.failNext = Object.assign(new Error('berth is in maintenance.'), { hint: 'berth maintenance off ends it.' });
    await ui.press('j', 'j', 's', 'y');
    await ui.waitFor((f) => f.includes('start app carol/job failed: berth is in maintenance.'), 'the failure');
    expect(ui.row('carol')).toContain('stopped');
  });

  it('says there are none, and how to deploy one, when nobody has an app', async () => {
    const ui = open(new FakeSource());
    await ui.waitFor((f) => f.includes('no apps (deploy one: berth app deploy USER/NAME SOURCE)'), 'the empty table');
    expect(ui.frame()).not.toContain('output of app');
  });
});
