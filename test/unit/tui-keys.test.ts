import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { type KeyContext, type KeyEffect, keyEffects, NO_KEY, splitKeys } from '../../src/tui/keys.js';
import type { Modal } from '../../src/tui/view.js';

/** On the VMs tab of one engine, alice/main (running) selected, nothing open. */
const AT: KeyContext = {
  tab: 'VMs',
  tabs: ['VMs', 'Users', 'Plans', 'Schedule', 'Events'],
  sort: 'user',
  filter: '',
  editingFilter: false,
  modal: null,
  keys: ['alice/main', 'bob/main', 'carol/main'],
  current: 'alice/main',
  vm: { ref: 'alice/main', state: 'running' },
  user: { login: 'alice', plan: 'basic' },
  plans: ['basic', 'standard', 'pro'],
  maintenanceOn: false,
  logs: null,
};

const k = (over: Partial<Key>): Key => ({ ...NO_KEY, ...over });
const ENTER = k({ return: true });
const ESC = k({ escape: true });

const destroy: Modal = {
  kind: 'confirm',
  title: 'Destroy VM alice/main?',
  body: 'Its container goes; its home volume (the data) too only with D.',
  choices: [
    { key: 'k', enter: true, label: 'destroy, keep the home (data)', action: { kind: 'destroy', ref: 'alice/main', keepData: true } },
    {
      key: 'D',
      label: 'destroy and DELETE the home (its data is lost)',
      action: { kind: 'destroy', ref: 'alice/main', keepData: false },
    },
  ],
  batch: 7,
};
const planPicker: Modal = { kind: 'plan', login: 'bob', current: 'basic', index: 0 };
const close: KeyEffect = { do: 'modal', modal: null };

/** [what, where (over AT), input, key, batch, what it does] */
const TABLE: Array<[string, Partial<KeyContext>, string, Key, number, KeyEffect[]]> = [
  // Everywhere
  ['q quits', {}, 'q', NO_KEY, 1, [{ do: 'quit' }]],
  ['? opens the help', {}, '?', NO_KEY, 1, [{ do: 'modal', modal: { kind: 'help' } }]],
  ['/ starts the filter', {}, '/', NO_KEY, 1, [{ do: 'edit-filter', editing: true }]],
  ['2 goes to Users', {}, '2', NO_KEY, 1, [{ do: 'tab', tab: 'Users' }]],
  ['6 does nothing on one engine', {}, '6', NO_KEY, 1, []],
  [
    '6 goes to Nodes on a Swarm',
    { tabs: ['VMs', 'Users', 'Plans', 'Schedule', 'Events', 'Nodes'] },
    '6',
    NO_KEY,
    1,
    [{ do: 'tab', tab: 'Nodes' }],
  ],
  ['0 does nothing', {}, '0', NO_KEY, 1, []],
  ['Tab goes right', {}, '', k({ tab: true }), 1, [{ do: 'tab', tab: 'Users' }]],
  ['→ wraps from the last tab', { tab: 'Events' }, '', k({ rightArrow: true }), 1, [{ do: 'tab', tab: 'VMs' }]],
  ['Shift-Tab wraps from the first tab', {}, '', k({ tab: true, shift: true }), 1, [{ do: 'tab', tab: 'Events' }]],
  ['← goes left', { tab: 'Plans' }, '', k({ leftArrow: true }), 1, [{ do: 'tab', tab: 'Users' }]],
  ['j selects the next row', {}, 'j', NO_KEY, 1, [{ do: 'select', tab: 'VMs', key: 'bob/main' }]],
  ['↓ stays on the last row', { current: 'carol/main' }, '', k({ downArrow: true }), 1, [{ do: 'select', tab: 'VMs', key: 'carol/main' }]],
  ['k stays on the first row', {}, 'k', NO_KEY, 1, [{ do: 'select', tab: 'VMs', key: 'alice/main' }]],
  ['j on an empty list does nothing', { keys: [], current: null, vm: null }, 'j', NO_KEY, 1, []],
  ['Esc closes the logs pane first', { logs: 'bob/main', filter: 'b' }, '', ESC, 1, [{ do: 'logs', ref: null }]],
  ['Esc then clears the filter', { filter: 'b' }, '', ESC, 1, [{ do: 'filter', filter: '' }]],
  ['Esc with nothing to clear does nothing', {}, '', ESC, 1, []],
  // Typing the filter
  ['a letter types into the filter', { editingFilter: true, filter: 'ca' }, 'r', NO_KEY, 1, [{ do: 'filter', filter: 'car' }]],
  ['q types into the filter (it does not quit)', { editingFilter: true }, 'q', NO_KEY, 1, [{ do: 'filter', filter: 'q' }]],
  ['escape sequences are not typed in', { editingFilter: true, filter: 'a' }, 'b\u001b[31m', NO_KEY, 1, [{ do: 'filter', filter: 'ab' }]],
  ['Backspace takes one off', { editingFilter: true, filter: 'car' }, '', k({ backspace: true }), 1, [{ do: 'filter', filter: 'ca' }]],
  ['Enter keeps the filter', { editingFilter: true, filter: 'car' }, '', ENTER, 1, [{ do: 'edit-filter', editing: false }]],
  [
    'Esc clears the filter being typed',
    { editingFilter: true, filter: 'car' },
    '',
    ESC,
    1,
    [
      { do: 'filter', filter: '' },
      { do: 'edit-filter', editing: false },
    ],
  ],
  ['Ctrl keys are not typed in', { editingFilter: true, filter: 'a' }, 'u', k({ ctrl: true }), 1, []],
  // VMs
  ['s starts', {}, 's', NO_KEY, 1, [{ do: 'act', action: { kind: 'start', ref: 'alice/main' } }]],
  ['x stops', {}, 'x', NO_KEY, 1, [{ do: 'act', action: { kind: 'stop', ref: 'alice/main' } }]],
  ['r restarts', {}, 'r', NO_KEY, 1, [{ do: 'act', action: { kind: 'restart', ref: 'alice/main' } }]],
  ['d asks before destroying', {}, 'd', NO_KEY, 7, [{ do: 'modal', modal: destroy }]],
  ['l opens the logs pane', {}, 'l', NO_KEY, 1, [{ do: 'logs', ref: 'alice/main' }]],
  ['l closes the pane of the same VM', { logs: 'alice/main' }, 'l', NO_KEY, 1, [{ do: 'logs', ref: null }]],
  ['l moves the pane to the selected VM', { logs: 'bob/main' }, 'l', NO_KEY, 1, [{ do: 'logs', ref: 'alice/main' }]],
  ['Enter opens the details', {}, '', ENTER, 1, [{ do: 'modal', modal: { kind: 'details', ref: 'alice/main' } }]],
  [
    'e leaves for a shell, the logs pane closed',
    { logs: 'alice/main' },
    'e',
    NO_KEY,
    1,
    [
      { do: 'logs', ref: null },
      { do: 'shell', ref: 'alice/main' },
    ],
  ],
  [
    'e in a stopped VM says to start it',
    { vm: { ref: 'alice/main', state: 'exited' } },
    'e',
    NO_KEY,
    1,
    [{ do: 'status', text: 'VM alice/main is not running: start it first (s).', error: true }],
  ],
  [
    'o sorts by the next column',
    {},
    'o',
    NO_KEY,
    1,
    [
      { do: 'sort', sort: 'vm' },
      { do: 'status', text: 'sorted by vm', error: false },
    ],
  ],
  [
    'o wraps from the last column',
    { sort: 'uptime' },
    'o',
    NO_KEY,
    1,
    [
      { do: 'sort', sort: 'user' },
      { do: 'status', text: 'sorted by user', error: false },
    ],
  ],
  ['s with no VM selected does nothing', { keys: [], current: null, vm: null }, 's', NO_KEY, 1, []],
  ['a on the VMs tab does nothing', {}, 'a', NO_KEY, 1, []],
  // Users
  ['a approves', { tab: 'Users' }, 'a', NO_KEY, 1, [{ do: 'act', action: { kind: 'approve', login: 'alice' } }]],
  ['R rejects', { tab: 'Users' }, 'R', NO_KEY, 1, [{ do: 'act', action: { kind: 'reject', login: 'alice' } }]],
  [
    'v asks before revoking',
    { tab: 'Users' },
    'v',
    NO_KEY,
    3,
    [
      {
        do: 'modal',
        modal: {
          kind: 'confirm',
          title: 'Revoke alice?',
          body: 'They lose access to their VMs (the VMs are kept).',
          choices: [{ key: 'y', label: 'revoke', action: { kind: 'revoke', login: 'alice' } }],
          batch: 3,
        },
      },
    ],
  ],
  [
    "p opens the plan picker on the user's plan",
    { tab: 'Users', user: { login: 'bob', plan: 'pro' } },
    'p',
    NO_KEY,
    1,
    [{ do: 'modal', modal: { kind: 'plan', login: 'bob', current: 'pro', index: 2 } }],
  ],
  ['a with no user selected does nothing', { tab: 'Users', user: null }, 'a', NO_KEY, 1, []],
  ['x on the Users tab does nothing', { tab: 'Users' }, 'x', NO_KEY, 1, []],
  // Schedule
  [
    'm asks before turning maintenance on',
    { tab: 'Schedule' },
    'm',
    NO_KEY,
    2,
    [
      {
        do: 'modal',
        modal: {
          kind: 'confirm',
          title: 'Turn maintenance on?',
          body: 'Every running VM is stopped, and VMs cannot be started until it ends.',
          choices: [{ key: 'y', label: 'turn it on', action: { kind: 'maintenance', on: true } }],
          batch: 2,
        },
      },
    ],
  ],
  [
    'm asks before turning it off',
    { tab: 'Schedule', maintenanceOn: true },
    'm',
    NO_KEY,
    2,
    [
      {
        do: 'modal',
        modal: {
          kind: 'confirm',
          title: 'Turn maintenance off?',
          body: 'The VMs it stopped are started again.',
          choices: [{ key: 'y', label: 'turn it off', action: { kind: 'maintenance', on: false } }],
          batch: 2,
        },
      },
    ],
  ],
  ['m on the Plans tab does nothing', { tab: 'Plans' }, 'm', NO_KEY, 1, []],
  // What is open over the list takes the keys
  ['any key closes the help', { modal: { kind: 'help' } }, 'x', NO_KEY, 1, [close]],
  ['q closes the details (it does not quit)', { modal: { kind: 'details', ref: 'alice/main' } }, 'q', NO_KEY, 1, [close]],
  ['Enter closes the details', { modal: { kind: 'details', ref: 'alice/main' } }, '', ENTER, 1, [close]],
  ['x does nothing over the details', { modal: { kind: 'details', ref: 'alice/main' } }, 'x', NO_KEY, 1, []],
  ['a key that came with the question does not answer it', { modal: destroy }, 'k', NO_KEY, 7, []],
  [
    'k answers the destroy question',
    { modal: destroy },
    'k',
    NO_KEY,
    8,
    [close, { do: 'act', action: { kind: 'destroy', ref: 'alice/main', keepData: true } }],
  ],
  [
    'Enter answers with the Enter choice',
    { modal: destroy },
    '',
    ENTER,
    8,
    [close, { do: 'act', action: { kind: 'destroy', ref: 'alice/main', keepData: true } }],
  ],
  [
    'D deletes the home',
    { modal: destroy },
    'D',
    NO_KEY,
    8,
    [close, { do: 'act', action: { kind: 'destroy', ref: 'alice/main', keepData: false } }],
  ],
  ['n cancels a question', { modal: destroy }, 'n', NO_KEY, 8, [close]],
  ['Esc cancels a question', { modal: destroy }, '', ESC, 8, [close]],
  ['another key leaves the question open', { modal: destroy }, 'x', NO_KEY, 8, []],
  ['j moves down the plans', { modal: planPicker }, 'j', NO_KEY, 1, [{ do: 'modal', modal: { ...planPicker, index: 1 } }]],
  ['↑ stays on the first plan', { modal: planPicker }, '', k({ upArrow: true }), 1, [{ do: 'modal', modal: planPicker }]],
  [
    '↓ stays on the last plan',
    { modal: { ...planPicker, index: 2 } },
    '',
    k({ downArrow: true }),
    1,
    [{ do: 'modal', modal: { ...planPicker, index: 2 } }],
  ],
  [
    'Enter sets another plan',
    { modal: { ...planPicker, index: 1 } },
    '',
    ENTER,
    1,
    [close, { do: 'act', action: { kind: 'plan', login: 'bob', plan: 'standard' } }],
  ],
  ['Enter on the plan the user has only closes', { modal: planPicker }, '', ENTER, 1, [close]],
  ['Esc leaves the plan as it is', { modal: { ...planPicker, index: 1 } }, '', ESC, 1, [close]],
  ['q does not quit from the plan picker', { modal: planPicker }, 'q', NO_KEY, 1, []],
];

describe('what a key does where the operator is', () => {
  it.each(TABLE)('%s', (_what, over, input, key, batch, effects) => {
    expect(keyEffects({ ...AT, ...over }, input, key, batch)).toEqual(effects);
  });
});

describe('keys that came in one piece of input', () => {
  it.each<[string, string, Key, Array<{ input: string; key: Key }>]>([
    ['one key stays one', 'j', NO_KEY, [{ input: 'j', key: NO_KEY }]],
    [
      'typed together, each on its own',
      'jx',
      NO_KEY,
      [
        { input: 'j', key: NO_KEY },
        { input: 'x', key: NO_KEY },
      ],
    ],
    [
      'a carriage return among them is Enter',
      'd\r',
      NO_KEY,
      [
        { input: 'd', key: NO_KEY },
        { input: '\r', key: ENTER },
      ],
    ],
    ['an escape sequence stays whole', '\u001b[B', k({ downArrow: true }), [{ input: '\u001b[B', key: k({ downArrow: true }) }]],
    ['a Meta key stays whole', 'ab', k({ meta: true }), [{ input: 'ab', key: k({ meta: true }) }]],
  ])('%s', (_what, input, key, keys) => {
    expect(splitKeys(input, key)).toEqual(keys);
  });
});
