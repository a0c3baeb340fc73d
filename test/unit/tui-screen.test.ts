import { describe, expect, it } from 'vitest';
import type { MaintenanceStatus } from '../../src/services/nodes/maintenance.js';
import { type Action, actionLabel, doneStatus, failedStatus, progressStatus, runningStatus } from '../../src/tui/actions.js';
import type { EngineReach, LiveVm } from '../../src/tui/data-source.js';
import { type FooterState, footerLine } from '../../src/tui/footer.js';
import { capacityText, componentsText, engineVersionText, hostLineText, maintenanceBanner } from '../../src/tui/header-text.js';
import { screenLayout, statsWanted } from '../../src/tui/layout.js';
import { liveText, matches, tabLists, withLive } from '../../src/tui/lists.js';
import { appendLogs, MAX_LOG_LINES, openedLogs } from '../../src/tui/logs.js';
import { currentKey, currentKeys, moveSelection } from '../../src/tui/selection.js';
import { applyView, initialView, uiToKeep, type ViewChange, type ViewState } from '../../src/tui/view.js';
import { FakeSource, nodeRow, userRow, vmRow } from '../tui/fake-source.js';

describe('the selected row after the list changed', () => {
  it.each<[string, string[], string | null | undefined, string | null]>([
    ['the one chosen, still listed', ['a', 'b', 'c'], 'b', 'b'],
    ['the first when the chosen one went (destroyed, filtered out)', ['a', 'c'], 'b', 'a'],
    ['the first when none was chosen', ['a', 'b'], undefined, 'a'],
    ['the first when the choice was cleared', ['a', 'b'], null, 'a'],
    ['none in an empty list', [], 'b', null],
  ])('%s', (_what, keys, chosen, shown) => {
    expect(currentKey(keys, chosen)).toBe(shown);
  });

  it('is worked out for every tab at once', () => {
    const keysOf = { VMs: ['a/x', 'b/x'], Users: ['a'], Plans: [], Schedule: ['w1'], Events: [], Nodes: [] };
    expect(currentKeys(keysOf, { VMs: 'b/x', Users: 'gone' })).toEqual({
      VMs: 'b/x',
      Users: 'a',
      Plans: null,
      Schedule: 'w1',
      Events: null,
      Nodes: null,
    });
  });

  it.each<[string, string[], string | null, number, string | null | undefined]>([
    ['down one', ['a', 'b', 'c'], 'a', 1, 'b'],
    ['up one', ['a', 'b', 'c'], 'c', -1, 'b'],
    ['not past the last', ['a', 'b', 'c'], 'c', 1, 'c'],
    ['not before the first', ['a', 'b', 'c'], 'a', -1, 'a'],
    ['from the first when the current one is not listed', ['a', 'b', 'c'], 'x', 1, 'b'],
    ['nowhere in an empty list', [], null, 1, undefined],
  ])('moves %s', (_what, keys, current, delta, next) => {
    expect(moveSelection(keys, current, delta)).toBe(next);
  });
});

describe("the screen's lines", () => {
  it.each<[string, number, boolean, boolean, 'VMs' | 'Users', { body: number; logsHeight: number; tableHeight: number }]>([
    ['24 lines', 24, false, false, 'VMs', { body: 19, logsHeight: 0, tableHeight: 18 }],
    ['the maintenance banner takes a line', 24, true, false, 'VMs', { body: 18, logsHeight: 0, tableHeight: 17 }],
    ['the logs pane takes half the body', 24, false, true, 'VMs', { body: 19, logsHeight: 9, tableHeight: 9 }],
    ['the logs pane only on the VMs tab', 24, false, true, 'Users', { body: 19, logsHeight: 0, tableHeight: 18 }],
    ['at least 4 lines of body on a tiny screen', 5, false, true, 'VMs', { body: 4, logsHeight: 3, tableHeight: 0 }],
  ])('%s', (_what, height, maintenance, logs, tab, layout) => {
    expect(screenLayout(height, maintenance, logs, tab)).toEqual(layout);
  });

  const vms = Array.from({ length: 10 }, (_, i) => vmRow(`u${i}`, 'main', i === 2 ? { state: 'exited' } : {}));
  it.each<[string, boolean, string | null, number, string[], number]>([
    ['the running rows on screen first, the rest after', true, 'u0/main', 5, ['u0/main', 'u1/main', 'u3/main'], 6],
    ['the rows scrolled to with the selection', true, 'u9/main', 5, ['u6/main', 'u7/main', 'u8/main', 'u9/main'], 5],
    ['none on screen when the table is not', false, 'u0/main', 5, [], 9],
  ])('live numbers: %s', (_what, onTable, selected, height, visible, others) => {
    const wanted = statsWanted(vms, vms, onTable, selected, height);
    expect(wanted.visible).toEqual(visible);
    expect(wanted.others).toHaveLength(others);
    expect(wanted.others).not.toContain('u2/main');
  });
});

const footer: FooterState = { editingFilter: false, filter: '', status: null, problems: [], modal: null, sort: 'user' };
describe('what the footer says', () => {
  it.each<[string, Partial<FooterState>, string, string]>([
    ['the sort and how to quit', {}, 'sort: user · q quit', 'dim'],
    ['the filter kept', { filter: 'car' }, 'filter: car (Esc clears)', 'dim'],
    [
      'the filter being typed, before anything else',
      { editingFilter: true, filter: 'ca', status: { text: 'x', error: true } },
      '/ca█  (Enter keeps, Esc clears)',
      'plain',
    ],
    ['an action running', { status: { text: 'stop a/b…', error: false, pending: true } }, 'stop a/b…', 'green'],
    ['an action failed, over the problems', { status: { text: 'start failed', error: true }, problems: ['p'] }, 'start failed', 'red'],
    ["the snapshot's problems", { problems: ['VMs: down', 'Swarm nodes: down'] }, 'VMs: down; Swarm nodes: down', 'yellow'],
    ['what closes the details', { modal: { kind: 'details', ref: 'a/b' }, filter: 'x' }, 'q, Esc or Enter closes the details', 'dim'],
  ])('%s', (_what, over, text, tone) => {
    expect(footerLine({ ...footer, ...over })).toEqual({ text, tone });
  });
});

describe('what the header says', () => {
  const host = {
    name: 'h1',
    engineVersion: '27.0.1',
    cpus: 8,
    memoryBytes: 16 * 1024 ** 3,
    reserved: { cpus: 2, memoryBytes: 2 * 1024 ** 3, vms: 2 },
  };
  it.each<[string, typeof host | null, EngineReach, string, string]>([
    [
      'the engine answers',
      host,
      'up',
      ' h1 · Docker 27.0.1 · daemon ',
      'Reserved by 2 running VM(s): CPU 2/8 · RAM 2G/16G (plan limits, not live use)',
    ],
    ['its first answer is on its way', null, 'waiting', ' ? · Docker … · daemon ', 'host capacity: asking the engine…'],
    [
      'it was asked and did not answer',
      null,
      'down',
      ' ? · Docker unreachable · daemon ',
      'host capacity unknown (no Docker engine answers)',
    ],
    ['it answers, its host info not yet', null, 'up', ' ? · Docker ? · daemon ', 'host capacity: asking the engine…'],
  ])('%s', (_what, h, engine, line, capacity) => {
    expect(hostLineText(h, engine)).toBe(line);
    expect(engineVersionText(h, engine)).toBe(line.split('Docker ')[1]?.split(' ·')[0]);
    expect(capacityText(h, engine)).toBe(capacity);
  });

  it('marks each daemon component by its state', () => {
    const c = (name: string, state: string) => ({ name, state, detail: '', lastError: null, since: '' });
    const daemon = { components: [c('api', 'running'), c('ssh', 'disabled'), c('bot', 'starting'), c('web', 'failed')] };
    expect(componentsText(daemon as never)).toBe(' api ✓ ssh – bot … web ✗');
  });

  const off: MaintenanceStatus = new FakeSource().maintenance;
  it.each<[string, Partial<MaintenanceStatus> | null, RegExp | null]>([
    ['no banner while maintenance is off', {}, null],
    ['no banner before the status is known', null, null],
    ['the banner with its reason', { on: true, reason: 'kernel' }, /^ MAINTENANCE: kernel — VMs cannot be started $/],
    [
      'the banner with its end',
      { on: true, until: '2030-01-06T05:00:00.000Z' },
      /^ MAINTENANCE until \d\d-\d\d \d\d:\d\d:\d\d — VMs cannot be started $/,
    ],
  ])('%s', (_what, over, banner) => {
    const text = maintenanceBanner(over ? { ...off, ...over } : null);
    if (banner) expect(text).toMatch(banner);
    else expect(text).toBeNull();
  });
});

describe('what each tab lists', () => {
  it.each<[string, string, Array<string | number | null>, boolean]>([
    ['no filter: all', '', ['x'], true],
    ['any field, whatever its case', 'BOB', ['alice', 'bob/main'], true],
    ['numbers too', '42', [null, 4242], true],
    ['none holds it', 'carol', ['alice', null], false],
  ])('the filter: %s', (_what, filter, fields, shown) => {
    expect(matches(filter, ...fields)).toBe(shown);
  });

  it('the VMs with their live numbers (running ones only), filtered and sorted; keys for each tab', async () => {
    const source = new FakeSource({
      vms: [vmRow('bob', 'main'), vmRow('alice', 'main'), vmRow('carol', 'web', { state: 'exited' })],
      users: [userRow('alice'), userRow('bob')],
    });
    const snap = await source.snapshot();
    const live = new Map<string, LiveVm>([
      ['bob/main', { cpuPercent: 3, memoryUsedBytes: 1, memoryLimitBytes: 2 }],
      ['carol/web', { cpuPercent: 9, memoryUsedBytes: 1, memoryLimitBytes: 2 }],
    ]);
    const all = tabLists(snap, snap.vms ?? [], live, '', 'user');
    expect(all.keysOf.VMs).toEqual(['alice/main', 'bob/main', 'carol/web']);
    expect(all.vms.map((v) => v.cpuPercent)).toEqual([null, 3, null]);
    expect(all.keysOf.Users).toEqual(['alice', 'bob']);
    expect(all.keysOf.Plans).toEqual(['basic', 'standard', 'pro']);
    expect(all.keysOf.Schedule).toEqual(['w1']);
    expect(all.tabs).not.toContain('Nodes');
    expect(all.nodes).toBeNull();
    const byCpu = tabLists(snap, snap.vms ?? [], live, '', 'cpu');
    expect(byCpu.keysOf.VMs[0]).toBe('bob/main');
    const filtered = tabLists(snap, snap.vms ?? [], live, 'ali', 'user');
    expect(filtered.keysOf.VMs).toEqual(['alice/main']);
    expect(filtered.keysOf.Users).toEqual(['alice']);
    // The details take a VM from every VM known, whatever the filter.
    expect(filtered.rows).toHaveLength(3);
  });

  it('on a Swarm: the Nodes tab, its rows filtered too', async () => {
    const source = new FakeSource();
    source.nodes = [nodeRow('mgr'), nodeRow('w1')];
    const snap = await source.snapshot();
    const lists = tabLists(snap, snap.vms ?? [], new Map(), 'w1', 'user');
    expect(lists.tabs).toContain('Nodes');
    expect(lists.keysOf.Nodes).toEqual(['id-w1']);
  });

  it('before any snapshot: nothing, and no Nodes tab', () => {
    const lists = tabLists(null, [], new Map(), '', 'user');
    expect(Object.values(lists.keysOf).flat()).toEqual([]);
    expect(lists.swarm).toBe(false);
  });

  it('live numbers only for a VM that runs', () => {
    const numbers = new Map<string, LiveVm>([['a/x', { cpuPercent: 1, memoryUsedBytes: 2, memoryLimitBytes: 3 }]]);
    expect(withLive([vmRow('a', 'x', { cpuPercent: null })], numbers)[0]?.cpuPercent).toBe(1);
    expect(withLive([vmRow('a', 'x', { cpuPercent: null, state: 'exited' })], numbers)[0]?.cpuPercent).toBeNull();
  });

  it('live numbers as shown: a change below what is shown is no change', () => {
    const at = (cpu: number, used: number) =>
      liveText(new Map([['a/x', { cpuPercent: cpu, memoryUsedBytes: used * 1024 ** 2, memoryLimitBytes: 1024 ** 3 }]]));
    expect(at(1.51, 100)).toBe('a/x 1.5 100/1024');
    expect(at(1.52, 100.2)).toBe(at(1.51, 100));
    expect(at(1.6, 100)).not.toBe(at(1.51, 100));
  });
});

describe("an action's status line", () => {
  it.each<[Action, string]>([
    [{ kind: 'start', ref: 'a/x' }, 'start a/x'],
    [{ kind: 'stop', ref: 'a/x' }, 'stop a/x'],
    [{ kind: 'restart', ref: 'a/x' }, 'restart a/x'],
    [{ kind: 'destroy', ref: 'a/x', keepData: true }, 'destroy a/x'],
    [{ kind: 'destroy', ref: 'a/x', keepData: false }, 'destroy a/x with its home'],
    [{ kind: 'approve', login: 'dave' }, 'approve dave'],
    [{ kind: 'reject', login: 'dave' }, 'reject dave'],
    [{ kind: 'revoke', login: 'dave' }, 'revoke dave'],
    [{ kind: 'plan', login: 'bob', plan: 'pro' }, 'plan of bob → pro'],
    [{ kind: 'maintenance', on: true }, 'maintenance on'],
    [{ kind: 'maintenance', on: false }, 'maintenance off'],
  ])('%o is named %s', (action, label) => {
    expect(actionLabel(action)).toBe(label);
  });

  it('says it runs, how far it came, that it is done or what it said, why it failed', () => {
    expect(runningStatus('stop a/x')).toEqual({ text: 'stop a/x…', error: false, pending: true });
    expect(progressStatus('maintenance on', 'stopping VMs: 1/2')).toEqual({
      text: 'maintenance on: stopping VMs: 1/2',
      error: false,
      pending: true,
    });
    expect(doneStatus('stop a/x', undefined)).toEqual({ text: 'stop a/x: done', error: false });
    expect(doneStatus('maintenance on', 'maintenance on; stopped 2 VM(s)')).toEqual({
      text: 'maintenance on; stopped 2 VM(s)',
      error: false,
    });
    expect(
      failedStatus('start a/x', Object.assign(new Error('berth is in maintenance.'), { hint: 'berth maintenance off ends it.' })),
    ).toEqual({
      text: 'start a/x failed: berth is in maintenance. berth maintenance off ends it.',
      error: true,
    });
    expect(failedStatus('start a/x', new Error('gone'))).toEqual({ text: 'start a/x failed: gone', error: true });
  });
});

describe("a VM's logs as the pane keeps them", () => {
  it('whole lines are added, the rest waits for its newline; escape sequences are dropped', () => {
    let logs = appendLogs(openedLogs('a/x'), 'one\ntw');
    expect(logs).toEqual({ ref: 'a/x', lines: ['one'], partial: 'tw', ended: null });
    logs = appendLogs(logs, 'o \u001b[31mred\u001b[0m\u0007\n');
    expect(logs.lines).toEqual(['one', 'two red']);
    expect(logs.partial).toBe('');
  });

  it(`keeps the last ${MAX_LOG_LINES} lines`, () => {
    const text = `${Array.from({ length: MAX_LOG_LINES + 20 }, (_, i) => `line ${i}`).join('\n')}\n`;
    const logs = appendLogs(openedLogs('a/x'), text);
    expect(logs.lines).toHaveLength(MAX_LOG_LINES);
    expect(logs.lines[0]).toBe('line 20');
  });
});

describe('where the operator is', () => {
  const start = initialView();
  it.each<[ViewChange, Partial<ViewState>]>([
    [{ do: 'tab', tab: 'Users' }, { tab: 'Users' }],
    [{ do: 'select', tab: 'VMs', key: 'b/x' }, { selected: { VMs: 'b/x' } }],
    [{ do: 'sort', sort: 'cpu' }, { sort: 'cpu' }],
    [{ do: 'filter', filter: 'car' }, { filter: 'car' }],
    [{ do: 'edit-filter', editing: true }, { editingFilter: true }],
    [{ do: 'modal', modal: { kind: 'help' } }, { modal: { kind: 'help' } }],
  ])('%o', (change, after) => {
    expect(applyView(start, change)).toEqual({ ...start, ...after });
  });

  it("starts where the app was left (back from a shell), and keeps the VMs tab's row as shown", () => {
    expect(initialView()).toEqual({ tab: 'VMs', selected: {}, sort: 'user', filter: '', editingFilter: false, modal: null });
    const back = initialView({ tab: 'Users', selected: { Users: 'bob' }, sort: 'cpu', filter: 'b' });
    expect(back).toMatchObject({ tab: 'Users', selected: { Users: 'bob' }, sort: 'cpu', filter: 'b' });
    expect(uiToKeep({ ...back, modal: { kind: 'help' }, editingFilter: true }, 'bob/main')).toEqual({
      tab: 'Users',
      selected: { Users: 'bob', VMs: 'bob/main' },
      sort: 'cpu',
      filter: 'b',
    });
  });
});
