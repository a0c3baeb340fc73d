import { describe, expect, it } from 'vitest';
import {
  decidePolicies,
  idleCandidate,
  idleVerdict,
  nextPolicyStop,
  type PolicyDecision,
  type PolicyReadings,
  type VmActivity,
  watchedForIdle,
} from '../../src/domain/vm-policy-decisions.js';
import type { Plan, State, Vm } from '../../src/state/schema.js';
import { type ConfigSet, effectiveConfig } from '../../src/values/config-keys.js';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const HOUR = 3600;
const DAY = 24 * HOUR;
const GB = 1024 ** 3;
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();

const plan = (name: string, maxLifetimeSeconds = 0): Plan =>
  ({ name, maxLifetimeSeconds, gpu: 0, pids: 256, maxVms: 1, sudo: false, description: '' }) as Plan;

/** A VM of ann's on the plan `basic`, created ten days ago, running for an hour. */
function vm(name: string, over: Partial<Vm> = {}): Vm {
  return {
    id: `${name}`.padEnd(12, '0'),
    user: 'ann',
    name,
    plan: 'basic',
    image: 'berth/base',
    home: `${name}`.padEnd(12, '1'),
    phase: 'ready',
    containerId: `c-${name}`,
    desired: 'running',
    resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false },
    createdAt: ago(10 * DAY),
    lastStartedAt: ago(HOUR),
    ...over,
  };
}

function state(vms: Vm[], config: Partial<ConfigSet> = {}, plans: Plan[] = [plan('basic'), plan('day', DAY)]): State {
  const maintenance = { on: false, reason: '', since: null, until: null, source: null, window: null, stoppedVms: [] };
  return {
    instanceId: 'a'.repeat(12),
    plans,
    users: [],
    vms,
    homes: [],
    config,
    maintenance,
    schedules: [],
    events: [],
  } as unknown as State;
}

const nothingRead: PolicyReadings = { writable: null, activity: new Map() };
const activityOf = (entries: Record<string, VmActivity>): PolicyReadings => ({
  writable: null,
  activity: new Map(Object.entries(entries)),
});
/** The decisions in short: `stop ann/x idle`, `destroy ann/x`, `busy ann/x`. */
const short = (decisions: PolicyDecision[]) =>
  decisions.map((d) => (d.kind === 'stop' ? `stop ${d.vm} ${d.reason}` : d.kind === 'destroy' ? `destroy ${d.vm}` : `busy ${d.vm}`));

describe('the disk policy (what a VM writes outside its home, where berth measures it)', () => {
  const measured = (over: Partial<Vm> = {}) =>
    vm('d', {
      resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false, rootfsBytes: GB, rootfsEnforced: 'measured' },
      ...over,
    });
  it.each([
    { when: 'it wrote more than its limit', v: measured(), written: GB + 1, expected: ['stop ann/d disk'] },
    { when: 'it wrote exactly its limit', v: measured(), written: GB, expected: [] },
    { when: 'what it wrote could not be read', v: measured(), written: undefined, expected: [] },
    {
      when: 'the engine enforces its limit itself',
      v: vm('d', { resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false, rootfsBytes: GB, rootfsEnforced: 'engine' } }),
      written: 5 * GB,
      expected: [],
    },
    { when: 'it is already stopped', v: measured({ desired: 'stopped' }), written: 5 * GB, expected: [] },
    { when: 'it is still being created', v: measured({ phase: 'creating' }), written: 5 * GB, expected: [] },
    {
      when: 'it is also past its lifetime: stopped once, for the disk',
      v: measured({ plan: 'day', lastStartedAt: ago(2 * DAY) }),
      written: 2 * GB,
      expected: ['stop ann/d disk'],
    },
  ])('$when → $expected', ({ v, written, expected }) => {
    const writable = written === undefined ? null : new Map([['c-d', written]]);
    expect(short(decidePolicies(state([v]), NOW, { writable, activity: new Map() }))).toEqual(expected);
  });

  it('tells the owner what was written and what to do', () => {
    const v = vm('d', {
      resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false, rootfsBytes: GB, rootfsEnforced: 'measured' },
    });
    const [decision] = decidePolicies(state([v]), NOW, { writable: new Map([['c-d', 1.5 * GB]]), activity: new Map() });
    expect(decision).toEqual({
      kind: 'stop',
      vm: 'ann/d',
      reason: 'disk',
      detail: 'it wrote 1.5g outside its home, more than its 1g',
      notice: {
        kind: 'vm-stopped',
        to: 'ann',
        vm: 'ann/d',
        text: 'Your VM ann/d was stopped: it wrote 1.5g outside its home, more than its 1g. Start it again and delete what you do not need outside your home (e.g. in /tmp), or ask the operator for a larger plan.',
      },
    });
  });
});

describe("the lifetime policy (a plan's maximum running time)", () => {
  it.each([
    { when: 'it ran exactly its lifetime', v: vm('l', { plan: 'day', lastStartedAt: ago(DAY) }), expected: ['stop ann/l lifetime'] },
    { when: 'it ran one second less', v: vm('l', { plan: 'day', lastStartedAt: ago(DAY - 1) }), expected: [] },
    { when: 'its plan has no lifetime', v: vm('l', { lastStartedAt: ago(100 * DAY) }), expected: [] },
    { when: 'its plan is gone', v: vm('l', { plan: 'gone', lastStartedAt: ago(100 * DAY) }), expected: [] },
    { when: 'it never started', v: vm('l', { plan: 'day', lastStartedAt: undefined }), expected: [] },
    { when: 'it is already stopped', v: vm('l', { plan: 'day', desired: 'stopped', lastStartedAt: ago(2 * DAY) }), expected: [] },
    { when: 'it has no container', v: vm('l', { plan: 'day', containerId: null, lastStartedAt: ago(2 * DAY) }), expected: [] },
  ])('$when → $expected', ({ v, expected }) => {
    expect(short(decidePolicies(state([v]), NOW, nothingRead))).toEqual(expected);
  });

  it('tells the owner the lifetime', () => {
    const [decision] = decidePolicies(state([vm('l', { plan: 'day', lastStartedAt: ago(DAY) })]), NOW, nothingRead);
    expect(decision).toMatchObject({
      detail: "ran longer than its plan's 1d",
      notice: {
        kind: 'vm-stopped',
        to: 'ann',
        text: "Your VM ann/l was stopped: ran longer than its plan's 1d. Start it again when you need it.",
      },
    });
  });
});

describe('the idle policy', () => {
  const on = { 'idle-timeout': HOUR, 'idle-cpu': 5 };
  /** Started two hours ago, never seen active: idle for longer than the hour. */
  const quiet = () => vm('i', { lastStartedAt: ago(2 * HOUR) });
  it.each([
    { when: 'a session is open', seen: { sessions: 1 }, expected: ['busy ann/i'] },
    { when: 'its CPU since the last pass is exactly idle-cpu', seen: { sessions: 0, cpuPercent: 5 }, expected: ['busy ann/i'] },
    {
      when: 'its CPU is under idle-cpu and nothing runs in it',
      seen: { sessions: 0, cpuPercent: 4.9, execs: 0 },
      expected: ['stop ann/i idle'],
    },
    { when: 'one command runs in it', seen: { sessions: 0, cpuPercent: 0, execs: 1 }, expected: ['busy ann/i'] },
    { when: 'the commands in it could not be read', seen: { sessions: 0, cpuPercent: 0, execs: 'unknown' }, expected: [] },
    { when: 'the commands in it were not read (its node stalled)', seen: { sessions: 0, cpuPercent: 0 }, expected: [] },
    { when: 'its CPU, measured now, is idle-cpu', seen: { sessions: 0, execs: 0, cpuSample: 5 }, expected: ['busy ann/i'] },
    { when: 'its CPU, measured now, is under idle-cpu', seen: { sessions: 0, execs: 0, cpuSample: 1 }, expected: ['stop ann/i idle'] },
    { when: 'its CPU could not be measured', seen: { sessions: 0, execs: 0, cpuSample: 'unknown' }, expected: [] },
    { when: 'its CPU was not measured', seen: { sessions: 0, execs: 0 }, expected: [] },
    { when: 'nothing was read of it (not running, or its node did not answer)', seen: undefined, expected: [] },
  ] as Array<{ when: string; seen: VmActivity | undefined; expected: string[] }>)('$when → $expected', ({ seen, expected }) => {
    const readings = activityOf(seen ? { 'ann/i': seen } : {});
    expect(short(decidePolicies(state([quiet()], on), NOW, readings))).toEqual(expected);
  });

  it.each([
    { when: 'idle exactly idle-timeout since it started', v: vm('i', { lastStartedAt: ago(HOUR) }), expected: ['stop ann/i idle'] },
    { when: 'one second less', v: vm('i', { lastStartedAt: ago(HOUR - 1) }), expected: [] },
    {
      when: 'active more recently than it started',
      v: vm('i', { lastStartedAt: ago(5 * HOUR), lastActiveAt: ago(HOUR - 1) }),
      expected: [],
    },
    {
      when: 'never started: counted from its creation',
      v: vm('i', { lastStartedAt: undefined, createdAt: ago(HOUR) }),
      expected: ['stop ann/i idle'],
    },
  ])('counts idleness from the last activity, start or creation: $when → $expected', ({ v, expected }) => {
    expect(short(decidePolicies(state([v], on), NOW, activityOf({ 'ann/i': { sessions: 0, cpuPercent: 0, execs: 0 } })))).toEqual(expected);
  });

  it('records activity at the pass time and tells the owner of a stop', () => {
    const decisions = decidePolicies(
      state([quiet(), vm('b')], on),
      NOW,
      activityOf({ 'ann/i': { sessions: 0, cpuPercent: 0, execs: 0 }, 'ann/b': { sessions: 2 } }),
    );
    expect(decisions).toEqual([
      { kind: 'record-activity', vm: 'ann/b', at: NOW.toISOString() },
      {
        kind: 'stop',
        vm: 'ann/i',
        reason: 'idle',
        detail: 'idle for 1h',
        notice: {
          kind: 'vm-stopped',
          to: 'ann',
          vm: 'ann/i',
          text: 'Your VM ann/i was stopped: idle for 1h. Start it again when you need it.',
        },
      },
    ]);
  });

  it('judges nothing with idle-timeout off, whatever was read', () => {
    const readings = activityOf({ 'ann/i': { sessions: 3, cpuPercent: 0, execs: 0 } });
    expect(decidePolicies(state([quiet()], { 'idle-timeout': 0 }), NOW, readings)).toEqual([]);
    expect(watchedForIdle(state([quiet()], { 'idle-timeout': 0 }), NOW, null)).toEqual([]);
  });

  it('watches only the running VMs no other policy stops', () => {
    const measuredVm = vm('d', {
      resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false, rootfsBytes: GB, rootfsEnforced: 'measured' },
    });
    const vms = [
      quiet(),
      vm('l', { plan: 'day', lastStartedAt: ago(DAY) }),
      vm('s', { desired: 'stopped' }),
      vm('c', { phase: 'creating' }),
      measuredVm,
    ];
    const watched = watchedForIdle(state(vms, on), NOW, new Map([['c-d', 2 * GB]]));
    expect(watched.map((v) => v.name)).toEqual(['i']);
    // Busy or not, a VM past its lifetime is stopped for that, and its activity is not recorded.
    const readings = activityOf({ 'ann/l': { sessions: 1 } });
    expect(short(decidePolicies(state([vm('l', { plan: 'day', lastStartedAt: ago(DAY) })], on), NOW, readings))).toEqual([
      'stop ann/l lifetime',
    ]);
  });

  it.each([
    { when: 'a session is open', seen: { sessions: 1 }, candidate: false },
    { when: 'its CPU since the last pass is over idle-cpu', seen: { sessions: 0, cpuPercent: 50 }, candidate: false },
    { when: 'its CPU since the last pass is under idle-cpu', seen: { sessions: 0, cpuPercent: 1 }, candidate: true },
    { when: 'its CPU is not known', seen: { sessions: 0 }, candidate: true },
    // What was read further does not change whether it is to be read.
    { when: 'a command runs in it', seen: { sessions: 0, execs: 3 }, candidate: true },
  ] as Array<{ when: string; seen: VmActivity; candidate: boolean }>)(
    'is checked further before an idle stop when $when: $candidate',
    ({ seen, candidate }) => {
      const cfg = effectiveConfig(on);
      expect(idleCandidate(quiet(), seen, NOW, cfg)).toBe(candidate);
      expect(idleCandidate(vm('i', { lastStartedAt: ago(1) }), seen, NOW, cfg)).toBe(false);
    },
  );

  it('calls a VM quiet before idle-timeout whatever its commands and CPU', () => {
    expect(idleVerdict(vm('i', { lastStartedAt: ago(60) }), { sessions: 0, execs: 0, cpuSample: 0 }, NOW, effectiveConfig(on))).toBe(
      'quiet',
    );
  });
});

describe('the destroy-after policy', () => {
  const stopped = (seconds: number, over: Partial<Vm> = {}) => vm('s', { desired: 'stopped', lastStoppedAt: ago(seconds), ...over });
  it.each([
    { when: 'stopped exactly destroy-after', v: stopped(30 * DAY), config: { 'destroy-after': 30 * DAY }, expected: ['destroy ann/s'] },
    { when: 'stopped one second less', v: stopped(30 * DAY - 1), config: { 'destroy-after': 30 * DAY }, expected: [] },
    { when: 'destroy-after is off', v: stopped(300 * DAY), config: { 'destroy-after': 0 }, expected: [] },
    { when: 'it runs', v: vm('s', { lastStoppedAt: ago(40 * DAY) }), config: { 'destroy-after': 30 * DAY }, expected: [] },
    { when: 'it is still being created', v: stopped(40 * DAY, { phase: 'creating' }), config: { 'destroy-after': 30 * DAY }, expected: [] },
    {
      when: 'it was never stopped',
      v: stopped(40 * DAY, { lastStoppedAt: undefined }),
      config: { 'destroy-after': 30 * DAY },
      expected: [],
    },
    // Today's rule: a VM stopped for maintenance counts as stopped like any other.
    {
      when: 'maintenance stopped it',
      v: stopped(30 * DAY, { stopReason: 'maintenance' }),
      config: { 'destroy-after': 30 * DAY },
      expected: ['destroy ann/s'],
    },
  ])('$when → $expected', ({ v, config, expected }) => {
    expect(short(decidePolicies(state([v], config), NOW, nothingRead))).toEqual(expected);
  });

  it('keeps the home unless destroy-after.remove-home, only if the VM is still stopped since then, and tells the owner', () => {
    const v = stopped(31 * DAY);
    expect(decidePolicies(state([v], { 'destroy-after': 30 * DAY }), NOW, nothingRead)).toEqual([
      {
        kind: 'destroy',
        vm: 'ann/s',
        keepData: true,
        stoppedSince: v.lastStoppedAt,
        detail: 'stopped for 30d; its home is kept',
        notice: { kind: 'vm-destroyed', to: 'ann', vm: 'ann/s', text: 'Your VM ann/s was destroyed: stopped for 30d; its home is kept.' },
      },
    ]);
    const [gone] = decidePolicies(state([v], { 'destroy-after': 30 * DAY, 'destroy-after.remove-home': true }), NOW, nothingRead);
    expect(gone).toMatchObject({
      keepData: false,
      detail: 'stopped for 30d',
      notice: { text: 'Your VM ann/s was destroyed: stopped for 30d.' },
    });
  });

  it('never destroys in the pass that stops it (the state read before the pass says it runs)', () => {
    const v = vm('l', { plan: 'day', lastStartedAt: ago(40 * DAY), lastStoppedAt: ago(41 * DAY) });
    expect(short(decidePolicies(state([v], { 'destroy-after': DAY }), NOW, nothingRead))).toEqual(['stop ann/l lifetime']);
  });
});

describe('one pass', () => {
  it('records activity first, then stops (disk, lifetime, idle), then destroys', () => {
    const disk = vm('d', {
      resources: { cpu: 1, memoryBytes: GB, pids: 256, gpu: 0, sudo: false, rootfsBytes: GB, rootfsEnforced: 'measured' },
    });
    const vms = [
      vm('i', { lastStartedAt: ago(2 * HOUR) }),
      vm('s', { desired: 'stopped', lastStoppedAt: ago(2 * DAY) }),
      vm('l', { plan: 'day', lastStartedAt: ago(DAY) }),
      vm('b'),
      disk,
    ];
    const readings: PolicyReadings = {
      writable: new Map([['c-d', 2 * GB]]),
      activity: new Map<string, VmActivity>([
        ['ann/i', { sessions: 0, cpuPercent: 0, execs: 0 }],
        ['ann/b', { sessions: 1 }],
      ]),
    };
    expect(short(decidePolicies(state(vms, { 'idle-timeout': HOUR, 'destroy-after': DAY }), NOW, readings))).toEqual([
      'busy ann/b',
      'stop ann/d disk',
      'stop ann/l lifetime',
      'stop ann/i idle',
      'destroy ann/s',
    ]);
  });

  it('decides nothing with every policy off', () => {
    const vms = [vm('a', { lastStartedAt: ago(100 * DAY) }), vm('s', { desired: 'stopped', lastStoppedAt: ago(100 * DAY) })];
    expect(decidePolicies(state(vms), NOW, activityOf({ 'ann/a': { sessions: 0, cpuPercent: 0, execs: 0 } }))).toEqual([]);
  });
});

describe('the next stop a VM can expect', () => {
  const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000).toISOString();
  const started = vm('n', { lastStartedAt: NOW.toISOString() });
  it.each([
    { when: 'lifetime only', v: started, lifetime: DAY, idle: 0, expected: { at: at(DAY), reason: 'lifetime' } },
    { when: 'idle only', v: started, lifetime: 0, idle: HOUR, expected: { at: at(HOUR), reason: 'idle' } },
    { when: 'idle first', v: started, lifetime: DAY, idle: HOUR, expected: { at: at(HOUR), reason: 'idle' } },
    {
      when: 'idle counted from the last activity',
      v: vm('n', { lastStartedAt: NOW.toISOString(), lastActiveAt: at(60) }),
      lifetime: 0,
      idle: HOUR,
      expected: { at: at(HOUR + 60), reason: 'idle' },
    },
    { when: 'neither policy', v: started, lifetime: 0, idle: 0, expected: null },
    { when: 'stopped', v: vm('n', { desired: 'stopped', lastStartedAt: NOW.toISOString() }), lifetime: DAY, idle: HOUR, expected: null },
    { when: 'never started', v: vm('n', { lastStartedAt: undefined }), lifetime: DAY, idle: HOUR, expected: null },
  ])('$when', ({ v, lifetime, idle, expected }) => {
    expect(nextPolicyStop(v, lifetime, idle)).toEqual(expected);
  });
});
