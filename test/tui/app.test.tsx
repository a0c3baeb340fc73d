import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/tui/app.js';
import type { VmRow } from '../../src/tui/data-source.js';
import { FakeSource, vmRow } from './fake-source.js';

const ESC = '\u001b';
const ENTER = '\r';
const DOWN = '\u001b[B';

afterEach(() => cleanup());

function open(source: FakeSource, size: { width?: number; height?: number; statusMs?: number } = {}) {
  const app = render(
    <App source={source} refreshMs={40} colour={false} width={size.width ?? 100} height={size.height ?? 24} statusMs={size.statusMs} />,
  );
  const frame = () => app.lastFrame() ?? '';
  const waitFor = async (test: (frame: string) => boolean, what: string) => {
    for (let i = 0; i < 100; i++) {
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
  /** The line of the table showing this row. */
  const row = (text: string) =>
    frame()
      .split('\n')
      .find((l) => l.includes(text)) ?? '';
  return { app, frame, waitFor, press, row };
}

describe('berth tui, on a fake berth', () => {
  it('shows the header: host, engine, daemon components, capacity', async () => {
    const ui = open(new FakeSource());
    const shown = await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    expect(shown).toContain('testhost');
    expect(shown).toContain('Docker 27.0.1');
    expect(shown).toMatch(/daemon running api ✓ ssh –/);
    expect(shown).toContain('Reserved by 2 running VM(s): CPU 2/8 · RAM 2G/16G (plan limits, not live use)');
    expect(shown).not.toContain('MAINTENANCE');
  });

  it('lists VMs with state, CPU, memory used/limit in MB and uptime; – where there is no number', async () => {
    const source = new FakeSource({
      vms: [
        vmRow('alice', 'main', { sessions: 2 }),
        vmRow('bob', 'main', { state: 'exited', stopReason: 'idle', cpuPercent: null, memoryUsedBytes: null, diskBytes: null }),
      ],
    });
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob') && ui.row('alice').includes('1.5'), 'the VMs with their numbers');
    expect(ui.frame()).toMatch(/USER\s+VM\s+PLAN\s+STATE\s+CPU%\s+MEM MB\s+DISK\s+UPTIME\s+SSH/);
    expect(ui.row('alice')).toMatch(/^> alice\s+main\s+basic\s+running\s+1\.5\s+100\/1024\s+1\.3g\/10g\s+1h00\s+2/);
    expect(ui.row('bob')).toMatch(/stopped:idle\s+–\s+–\/1024\s+no quota\s+–/);
  });

  it('shows 16 GB in MB whole (16384/16384) and "stopped:maintenance" uncut when there is room', async () => {
    const big = 16 * 1024 ** 3;
    const source = new FakeSource({
      vms: [
        vmRow('alice', 'main', { ramBytes: big, memoryUsedBytes: big, memoryLimitBytes: big }),
        vmRow('bob', 'main', { state: 'exited', stopReason: 'maintenance', cpuPercent: null, memoryUsedBytes: null }),
      ],
    });
    const wide = open(source, { width: 100 });
    await wide.waitFor((f) => f.includes('bob') && f.includes('16384/16384'), 'the VMs with their numbers');
    expect(wide.row('alice')).toMatch(/running\s+1\.5\s+16384\/16384\s/);
    expect(wide.row('bob')).toMatch(/stopped:maintenance\s+–\s+–\/1024\s/);
    const narrow = open(source, { width: 80 });
    await narrow.waitFor((f) => f.includes('bob') && f.includes('16384/16384'), 'the VMs with their numbers');
    expect(narrow.row('alice')).toContain('16384/16384');
    for (const line of narrow.frame().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('select → stop: j moves to the second VM, x stops it, and the table shows it stopped', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    await ui.press('j');
    await ui.waitFor(() => ui.row('bob').startsWith('> '), 'bob selected');
    await ui.press('x');
    await ui.waitFor(() => /stopped:operator/.test(ui.row('bob')), 'bob stopped');
    expect(source.calls).toEqual(['stop bob/main']);
    expect(ui.row('alice')).toContain('running');
    expect(ui.frame()).toContain('stop bob/main: done');
  });

  it('keys typed together are handled one after the other ("jx" stops the second VM)', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    await ui.press('jx');
    await ui.waitFor(() => source.calls.length > 0, 'a call');
    expect(source.calls).toEqual(['stop bob/main']);
  });

  it('s starts, r restarts the selected VM; a failure is shown in red words, not thrown', async () => {
    const source = new FakeSource({ vms: [vmRow('alice', 'main', { state: 'exited', desired: 'stopped' })] });
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VM');
    source.failNext = Object.assign(new Error('berth is in maintenance.'), { hint: 'berth maintenance off ends it.' });
    await ui.press('s');
    await ui.waitFor((f) => f.includes('start alice/main failed: berth is in maintenance.'), 'the refusal');
    expect(ui.row('alice')).toContain('stopped');
    await ui.press('s');
    await ui.waitFor(() => ui.row('alice').includes('running'), 'alice running');
    await ui.press('r');
    await ui.waitFor(() => source.calls.includes('restart alice/main'), 'a restart');
  });

  it('d asks before destroying: Esc cancels, k or Enter destroys keeping the home; only D deletes it', async () => {
    const source = new FakeSource({ vms: [vmRow('alice', 'main'), vmRow('bob', 'main'), vmRow('carol', 'main')] });
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    await ui.press('j', 'd');
    await ui.waitFor((f) => f.includes('Destroy VM bob/main?'), 'the dialog');
    expect(ui.frame()).toContain('[k/Enter] destroy, keep the home');
    expect(ui.frame()).toContain('[D] destroy and DELETE the home');
    await ui.press('y', 'd');
    expect(ui.frame()).toContain('Destroy VM bob/main?');
    await ui.press(ESC);
    await ui.waitFor((f) => !f.includes('Destroy VM'), 'the dialog gone');
    expect(source.calls).toEqual([]);
    await ui.press('d', 'k');
    await ui.waitFor((f) => !/^[> ] bob /m.test(f), 'bob gone');
    expect(ui.frame()).toContain('destroy bob/main: done');
    expect(source.calls).toEqual(['destroy bob/main keepData=true']);
    await ui.press('d', 'D');
    await ui.waitFor((f) => !/^[> ] alice /m.test(f), 'alice gone');
    await ui.press('d', ENTER);
    await ui.waitFor((f) => !/^[> ] carol /m.test(f), 'carol gone');
    expect(source.calls).toEqual([
      'destroy bob/main keepData=true',
      'destroy alice/main keepData=false',
      'destroy carol/main keepData=true',
    ]);
  });

  it('keys that come with the one opening a question ("dD", "vy", "my" pasted) do not answer it', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    await ui.press('dD');
    await ui.waitFor((f) => f.includes('Destroy VM alice/main?'), 'the destroy question');
    await ui.press('x', 'x');
    expect(ui.frame()).toContain('Destroy VM alice/main?');
    expect(source.calls).toEqual([]);
    await ui.press(ESC, '2');
    await ui.waitFor((f) => f.includes('TELEGRAM'), 'the users tab');
    await ui.press('vy');
    await ui.waitFor((f) => f.includes('Revoke alice?'), 'the revoke question');
    await ui.press(ESC, '4');
    await ui.waitFor((f) => f.includes('NEXT RUN'), 'the schedule tab');
    await ui.press('my');
    await ui.waitFor((f) => f.includes('Turn maintenance on?'), 'the maintenance question');
    expect(source.calls).toEqual([]);
    // Answered by a key of its own, it acts.
    await ui.press('y');
    await ui.waitFor((f) => f.includes('MAINTENANCE: from berth tui'), 'the banner');
    expect(source.calls).toEqual(['maintenance on']);
  });

  it("an action's outcome goes after a while or at the next key, and the problems line shows again", async () => {
    const source = new FakeSource();
    source.problems = ['Docker engine: connect ENOENT /var/run/docker.sock'];
    const ui = open(source);
    await ui.waitFor((f) => f.includes('Docker engine: connect ENOENT'), 'the problem');
    await ui.press('x');
    await ui.waitFor((f) => f.includes('stop alice/main: done'), 'the outcome');
    expect(ui.frame()).not.toContain('Docker engine: connect ENOENT');
    await ui.press('j');
    await ui.waitFor((f) => f.includes('Docker engine: connect ENOENT') && !f.includes('stop alice/main'), 'the problem again');
    const timed = open(new FakeSource(), { statusMs: 200 });
    await timed.waitFor((f) => f.includes('alice'), 'the VMs');
    await timed.press('x');
    await timed.waitFor((f) => f.includes('stop alice/main: done'), 'the outcome');
    await timed.waitFor((f) => !f.includes('stop alice/main: done') && f.includes('q quit'), 'the outcome gone by itself');
  });

  it('/ filters the list, Esc clears the filter', async () => {
    const source = new FakeSource({ vms: [vmRow('alice', 'main'), vmRow('bob', 'main'), vmRow('carol', 'web')] });
    const ui = open(source);
    await ui.waitFor((f) => f.includes('carol'), 'the VMs');
    await ui.press('/', 'c', 'a', 'r', ENTER);
    await ui.waitFor((f) => !f.includes('alice') && f.includes('carol'), 'only carol');
    expect(ui.frame()).toContain('filter: car');
    await ui.press(ESC);
    await ui.waitFor((f) => f.includes('alice') && f.includes('carol'), 'everyone again');
  });

  it('o cycles the sort column (CPU: busiest first)', async () => {
    const source = new FakeSource({ vms: [vmRow('alice', 'main', { cpuPercent: 5 }), vmRow('bob', 'main', { cpuPercent: 80 })] });
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob') && ui.row('bob').includes('80.0'), 'the VMs with their numbers');
    const order = () => ui.frame().indexOf('alice') < ui.frame().indexOf('bob');
    expect(order()).toBe(true);
    await ui.press('o', 'o', 'o', 'o');
    await ui.waitFor((f) => f.includes('sorted by cpu'), 'sort by cpu');
    expect(order()).toBe(false);
  });

  it('? shows every key, any key closes it', async () => {
    const ui = open(new FakeSource(), { height: 40 });
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press('?');
    const help = await ui.waitFor((f) => f.includes('Keys'), 'the help');
    expect(help).toContain('k/Enter keeps the home, D deletes it');
    for (const key of ['switch tab', 'filter', 'destroy', 'logs pane', 'shell', 'approve', 'revoke', 'maintenance on/off', 'quit']) {
      expect(help).toContain(key);
    }
    await ui.press('x');
    await ui.waitFor((f) => !f.includes('Keys'), 'the help closed');
  });

  it("the details say which coding agents a VM's image has and whether a run is in progress", async () => {
    const source = new FakeSource({
      vms: [
        vmRow('alice', 'main', { agents: ['claude'], agentRuns: 1 }),
        vmRow('bob', 'main', { agents: ['claude'], agentRuns: 0 }),
        vmRow('carol', 'main', { agents: [] }),
      ],
    });
    const ui = open(source, { height: 40 });
    await ui.waitFor((f) => f.includes('carol'), 'the VMs');
    await ui.press(ENTER);
    await ui.waitFor((f) => f.includes('VM alice/main') && /agent\s+claude \(a run in progress\)/.test(f), "alice's agent, running");
    await ui.press(ESC, 'j', ENTER);
    await ui.waitFor((f) => f.includes('VM bob/main') && /agent\s+claude \(idle\)/.test(f), "bob's agent, idle");
    await ui.press(ESC, 'j', ENTER);
    await ui.waitFor((f) => f.includes('VM carol/main') && /agent\s+none/.test(f), "no agent in carol's VM");
  });

  it('Enter shows the details of a VM; l opens its logs pane, following', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press(ENTER);
    await ui.waitFor((f) => f.includes('VM alice/main') && f.includes('last exit code'), 'the details');
    // The footer says what q does here: it closes the pane (the app goes on).
    expect(ui.frame()).toContain('q, Esc or Enter closes the details');
    expect(ui.frame()).not.toContain('q quit');
    await ui.press('q');
    await ui.waitFor((f) => !f.includes('last exit code') && f.includes('q quit'), 'the details closed, the app still there');
    await ui.press(ENTER);
    await ui.waitFor((f) => f.includes('last exit code'), 'the details again');
    await ui.press(ESC, 'l');
    await ui.waitFor((f) => f.includes('logs alice/main') && f.includes('first line of alice/main'), 'the logs pane');
    source.logListeners[0]?.('second \u001b[31mline\u001b[0m\npart');
    await ui.waitFor((f) => f.includes('second line'), 'a new log line');
    await ui.press('l');
    await ui.waitFor((f) => !f.includes('logs alice/main'), 'the logs pane closed');
    expect(source.calls).toEqual(['logs alice/main', 'logs-stop alice/main']);
  });

  it('a logs stream that comes back after its pane was closed (or another opened) is stopped at once', async () => {
    const source = new FakeSource();
    const release: Array<() => void> = [];
    source.logsGate = new Promise((resolve) => release.push(resolve));
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    await ui.press('l');
    await ui.waitFor((f) => f.includes('logs alice/main'), 'the logs pane, waiting');
    await ui.press('l');
    await ui.waitFor((f) => !f.includes('logs alice/main'), 'the logs pane closed');
    await ui.press('j', 'l');
    await ui.waitFor((f) => f.includes('logs bob/main'), "bob's logs pane, waiting");
    await ui.press('k', 'l');
    await ui.waitFor((f) => f.includes('logs alice/main'), "alice's logs pane, waiting");
    release[0]?.();
    await ui.waitFor(() => source.calls.filter((c) => c.startsWith('logs-stop')).length === 2, 'the stale streams stopped');
    expect(source.calls.toSorted()).toEqual(
      ['logs alice/main', 'logs bob/main', 'logs alice/main', 'logs-stop alice/main', 'logs-stop bob/main'].toSorted(),
    );
    // The current one lives on and is drawn; its text from the stale ones is not.
    await ui.waitFor((f) => f.includes('first line of alice/main'), "alice's logs");
    expect(ui.frame()).not.toContain('first line of bob/main');
    await ui.press(ESC);
    await ui.waitFor(() => source.calls.filter((c) => c.startsWith('logs-stop')).length === 3, 'the current stream stopped');
  });

  it('Users: status, plan, Telegram id, keys and VMs; a approves, R rejects, v revokes after asking, p changes plan', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press('2');
    await ui.waitFor((f) => f.includes('TELEGRAM'), 'the users tab');
    expect(ui.row('dave')).toMatch(/dave\s+pending/);
    await ui.press(DOWN, DOWN, 'a');
    await ui.waitFor(() => /dave\s+allowed/.test(ui.row('dave')), 'dave approved');
    await ui.press('R');
    await ui.waitFor((f) => f.includes('reject dave failed') || source.calls.includes('reject dave'), 'the reject');
    await ui.press('k', 'v');
    await ui.waitFor((f) => f.includes('Revoke bob?'), 'the revoke question');
    await ui.press('y');
    await ui.waitFor(() => /bob\s+revoked/.test(ui.row('bob ')), 'bob revoked');
    await ui.press('p');
    await ui.waitFor((f) => f.includes('Plan for bob'), 'the plan picker');
    await ui.press('j', ENTER);
    await ui.waitFor(() => /bob\s+revoked\s+user\s+standard/.test(ui.row('bob ')), 'bob on standard');
    expect(source.calls).toEqual(['approve dave', 'reject dave', 'revoke bob', 'plan bob standard']);
  });

  it('Plans lists users on each plan; Schedule shows windows with next run and m toggles maintenance after asking', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press('3');
    await ui.waitFor((f) => f.includes('MAX VMS'), 'the plans tab');
    expect(ui.row('basic')).toContain('3: alice, bob, dave');
    await ui.press('4');
    await ui.waitFor((f) => f.includes('NEXT RUN'), 'the schedule tab');
    expect(ui.row('w1')).toMatch(/w1\s+0 3 \* \* 0\s+UTC\s+2h\s+30m\s+\d\d-\d\d \d\d:\d\d/);
    expect(ui.frame()).toContain('Maintenance: off');
    await ui.press('m');
    await ui.waitFor((f) => f.includes('Turn maintenance on?'), 'the question');
    await ui.press('y');
    await ui.waitFor((f) => f.includes('MAINTENANCE: from berth tui'), 'the banner');
    expect(ui.frame()).toContain('maintenance on; stopped 2 VM(s)');
    await ui.press('5');
    await ui.waitFor((f) => f.includes('REASON') && f.includes('EVENT'), 'the events tab');
  });

  it('fits 80×24: every line within 80 columns and 23 lines, the narrowest columns dropped first', async () => {
    const source = new FakeSource({
      vms: Array.from({ length: 30 }, (_, i) =>
        vmRow(`user${i}`, 'main', { nextStop: { at: new Date(Date.now() + 600_000).toISOString(), reason: 'idle' } }),
      ),
    });
    const ui = open(source, { width: 80, height: 24 });
    await ui.waitFor((f) => f.includes('user0'), 'the VMs');
    const lines = ui.frame().split('\n');
    expect(lines.length).toBeLessThanOrEqual(23);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    expect(ui.frame()).toContain('of 30');
    expect(ui.frame()).toMatch(/STATE\s+CPU%\s+MEM MB/);
    const wide = open(source, { width: 120, height: 24 });
    await wide.waitFor((f) => f.includes('user0'), 'the VMs');
    expect(wide.frame()).toContain('STOP IN');
    expect(wide.row('user0')).toMatch(/\d+m idle/);
  });

  it("draws the state file's rows (states pending) while the first snapshot waits for the engine, then the engine's", async () => {
    const source = new FakeSource();
    let answer: (snap: Awaited<ReturnType<FakeSource['snapshot']>>) => void = () => undefined;
    const first = new Promise<Awaited<ReturnType<FakeSource['snapshot']>>>((resolve) => {
      answer = resolve;
    });
    const whole = await source.snapshot();
    const quick = Promise.resolve({
      ...whole,
      host: null,
      engine: 'waiting' as const,
      vms: (whole.vms ?? []).map((vm) => ({ ...vm, state: 'missing' as const, pending: true })),
    });
    const app = render(<App source={source} refreshMs={60_000} colour={false} width={100} height={24} first={first} quick={quick} />);
    const row = (text: string) => (app.lastFrame() ?? '').split('\n').find((l) => l.includes(text)) ?? '';
    const until = async (test: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !test(); i++) await new Promise((r) => setTimeout(r, 20));
      if (!test()) throw new Error(`the screen never showed ${what}:\n${app.lastFrame()}`);
    };
    await until(() => row('alice').includes('…') && row('bob').includes('…'), 'the pending rows');
    expect(row('alice')).not.toContain('missing');
    answer(whole);
    await until(() => row('alice').includes('running') && !row('alice').includes('…'), "the engine's states");
  });

  it('draws the first screen before any live numbers come, and refreshes go on while they never do', async () => {
    const source = new FakeSource();
    source.statsGate = new Promise(() => undefined);
    const ui = open(source);
    await ui.waitFor((f) => f.includes('bob') && f.includes('testhost'), 'the first screen');
    expect(ui.row('alice')).toMatch(/running\s+–\s+–\/1024\s/);
    // The rows refresh (bob stopped behind the screen's back) though the numbers never come.
    Object.assign(source.vms[1] as VmRow, { state: 'exited', desired: 'stopped', stopReason: 'idle' });
    await ui.waitFor(() => ui.row('bob').includes('stopped:idle'), 'the refreshed rows');
    // One read of numbers at a time: the one that never ends is not asked again behind itself.
    expect(source.statsAsked).toHaveLength(1);
    expect(source.statsAsked[0]?.visible).toEqual(['alice/main', 'bob/main']);
  });

  it('keeps the live numbers moving while nothing else changes (an unchanged snapshot is not drawn again)', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor(() => ui.row('alice').includes('1.5'), 'the first numbers');
    Object.assign(source.vms[0] as VmRow, { cpuPercent: 42 });
    await ui.waitFor(() => ui.row('alice').includes('42.0'), 'the new CPU %');
  });

  it('asks the numbers of the rows on screen first, and of the rows that scroll into view', async () => {
    const source = new FakeSource({ vms: Array.from({ length: 30 }, (_, i) => vmRow(`user${String(i).padStart(2, '0')}`, 'main')) });
    const ui = open(source, { width: 100, height: 24 });
    await ui.waitFor((f) => f.includes('of 30') && ui.row('user00').includes('1.5'), 'the VMs with their numbers');
    const first = source.statsAsked[0];
    const shown = ui.frame().match(/user\d\d/g) ?? [];
    expect(first?.visible).toEqual(shown.map((u) => `${u}/main`));
    expect(first?.others).toBe(30 - shown.length);
    await ui.press(...Array.from({ length: 29 }, () => 'j'));
    await ui.waitFor(() => ui.row('user29').startsWith('> '), 'the last row selected');
    await ui.waitFor(() => source.statsAsked.some((a) => a.visible.includes('user29/main')), 'the last rows asked for');
  });

  it('says "unreachable" only when the engine did not answer, not while its first answer is on its way', async () => {
    const waiting = new FakeSource();
    waiting.engine = 'waiting';
    const ui = open(waiting);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    expect(ui.frame()).toContain('Docker …');
    expect(ui.frame()).not.toContain('unreachable');
    expect(ui.frame()).toContain('host capacity: asking the engine…');
    const down = new FakeSource({ vms: [] });
    down.engine = 'down';
    const gone = open(down);
    await gone.waitFor((f) => f.includes('Docker unreachable'), 'the header');
    expect(gone.frame()).toContain('host capacity unknown (no Docker engine answers)');
  });

  it('shows how far maintenance has come while it stops the VMs', async () => {
    const source = new FakeSource();
    let release: () => void = () => undefined;
    source.actionGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    source.progressSteps = ['stopping VMs: 1/2'];
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press('4', 'm');
    await ui.waitFor((f) => f.includes('Turn maintenance on?'), 'the question');
    await ui.press('y');
    await ui.waitFor((f) => f.includes('maintenance on: stopping VMs: 1/2'), 'the progress');
    release();
    await ui.waitFor((f) => f.includes('maintenance on; stopped 2 VM(s)'), 'the outcome');
  });
});
