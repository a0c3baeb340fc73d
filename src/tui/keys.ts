import type { Key } from 'ink';
import type { Action } from './actions.js';
import type { Tab } from './header.js';
import { withoutControl } from './logs.js';
import { moveSelection } from './selection.js';
import type { Modal, ViewChange } from './view.js';
import { VM_SORTS, type VmSort } from './vm-table.js';

/** The key hints of each tab, after the tab bar. */
export const HINTS: Record<Tab, string> = {
  VMs: 's start x stop r restart d destroy l logs e shell ⏎ details o sort / filter ? help',
  Users: 'a approve R reject p plan v revoke / filter ? help',
  Plans: '/ filter ? help',
  Schedule: 'm maintenance on/off ? help',
  Events: '/ filter ? help',
  Nodes: '/ filter ? help',
  Apps: 's start x stop r restart (each asks) / filter ? help',
};

export const NO_KEY: Key = {
  upArrow: false,
  downArrow: false,
  leftArrow: false,
  rightArrow: false,
  pageDown: false,
  pageUp: false,
  home: false,
  end: false,
  return: false,
  escape: false,
  ctrl: false,
  shift: false,
  tab: false,
  backspace: false,
  delete: false,
  meta: false,
  super: false,
  hyper: false,
  capsLock: false,
  numLock: false,
};

/**
 * Keys that came in one piece of input ("jx" typed fast, or sent by tmux; a paste) as keys of
 * their own, each handled after the one before it; an escape sequence or a Ctrl/Meta key stays whole.
 */
export function splitKeys(input: string, key: Key): Array<{ input: string; key: Key }> {
  const split = input.length > 1 && !key.ctrl && !key.meta && !input.includes('\u001b');
  return split ? [...input].map((ch) => ({ input: ch, key: { ...NO_KEY, return: ch === '\r' } })) : [{ input, key }];
}

/** What a key does: a change of the view, or something beyond it. */
export type KeyEffect =
  | ViewChange
  | { do: 'act'; action: Action }
  /** Opens the logs pane of a VM (null: closes it). */
  | { do: 'logs'; ref: string | null }
  | { do: 'status'; text: string; error: boolean }
  | { do: 'quit' }
  /** Leaves the app for a shell in the VM (the app comes back where it was). */
  | { do: 'shell'; ref: string };

/** Where the operator is when a key comes: all that decides what it does. */
export interface KeyContext {
  tab: Tab;
  /** The tabs there are (Nodes only on a Swarm). */
  tabs: readonly Tab[];
  sort: VmSort;
  filter: string;
  editingFilter: boolean;
  modal: Modal | null;
  /** The current tab's rows, by key, and the selected one as shown. */
  keys: string[];
  current: string | null;
  /** The VMs tab's selected VM; the Users tab's selected user; the Apps tab's selected app. */
  vm: { ref: string; state: string } | null;
  app?: { ref: string; status: string } | null;
  user: { login: string; plan: string } | null;
  /** Every plan's name, in order (the plan picker's list). */
  plans: string[];
  maintenanceOn: boolean;
  /** The VM whose logs pane is open. */
  logs: string | null;
}

const none: KeyEffect[] = [];

/**
 * What a key does where the operator is. `batch`: the input batch the key came in (a question
 * opened by it is not answered by the keys that came with it).
 */
export function keyEffects(at: KeyContext, input: string, key: Key, batch: number): KeyEffect[] {
  if (at.editingFilter) return filterKey(at.filter, input, key);
  if (at.modal) return modalKey(at.modal, at.plans, input, key, batch);
  if (input === 'q') return [{ do: 'quit' }];
  if (key.escape) {
    if (at.logs) return [{ do: 'logs', ref: null }];
    return at.filter ? [{ do: 'filter', filter: '' }] : none;
  }
  if (input === '?') return [{ do: 'modal', modal: { kind: 'help' } }];
  if (input === '/') return [{ do: 'edit-filter', editing: true }];
  const { tabs, tab } = at;
  const number = Number(input);
  if (Number.isInteger(number) && number >= 1 && number <= tabs.length) return [{ do: 'tab', tab: tabs[number - 1] as Tab }];
  const index = Math.max(0, tabs.indexOf(tab));
  if (key.rightArrow || (key.tab && !key.shift)) return [{ do: 'tab', tab: tabs[(index + 1) % tabs.length] as Tab }];
  if (key.leftArrow || (key.tab && key.shift)) return [{ do: 'tab', tab: tabs[(index + tabs.length - 1) % tabs.length] as Tab }];
  if (key.downArrow || input === 'j') return move(at, 1);
  if (key.upArrow || input === 'k') return move(at, -1);
  if (tab === 'VMs') return vmKey(at, input, key, batch);
  if (tab === 'Users') return userKey(at, input, batch);
  if (tab === 'Apps') return appKey(at, input, batch);
  if (tab === 'Schedule' && input === 'm') return [maintenanceQuestion(at.maintenanceOn, batch)];
  return none;
}

function move(at: KeyContext, delta: number): KeyEffect[] {
  const key = moveSelection(at.keys, at.current, delta);
  return key === undefined ? none : [{ do: 'select', tab: at.tab, key }];
}

/** Typing the filter: Enter keeps it, Esc clears it, Backspace takes a character off. */
function filterKey(filter: string, input: string, key: Key): KeyEffect[] {
  if (key.return) return [{ do: 'edit-filter', editing: false }];
  if (key.escape)
    return [
      { do: 'filter', filter: '' },
      { do: 'edit-filter', editing: false },
    ];
  if (key.backspace || key.delete) return [{ do: 'filter', filter: filter.slice(0, -1) }];
  if (input && !key.ctrl && !key.meta) return [{ do: 'filter', filter: filter + withoutControl(input) }];
  return none;
}

const close: KeyEffect = { do: 'modal', modal: null };

function modalKey(modal: Modal, plans: string[], input: string, key: Key, batch: number): KeyEffect[] {
  switch (modal.kind) {
    case 'help':
      return [close];
    case 'details':
      return key.escape || key.return || input === 'q' ? [close] : none;
    case 'confirm': {
      if (batch === modal.batch) return none;
      const choice = modal.choices.find((c) => c.key === input || (c.enter && key.return));
      if (key.escape || input === 'n') return [close];
      return choice ? [close, { do: 'act', action: choice.action }] : none;
    }
    case 'plan': {
      if (key.escape) return [close];
      if (key.upArrow || input === 'k') return [{ do: 'modal', modal: { ...modal, index: Math.max(0, modal.index - 1) } }];
      if (key.downArrow || input === 'j') return [{ do: 'modal', modal: { ...modal, index: Math.min(plans.length - 1, modal.index + 1) } }];
      if (key.return) {
        const plan = plans[modal.index];
        return plan && plan !== modal.current ? [close, { do: 'act', action: { kind: 'plan', login: modal.login, plan } }] : [close];
      }
      return none;
    }
  }
}

function vmKey(at: KeyContext, input: string, key: Key, batch: number): KeyEffect[] {
  if (input === 'o') {
    const sort = VM_SORTS[(VM_SORTS.indexOf(at.sort) + 1) % VM_SORTS.length] as VmSort;
    return [
      { do: 'sort', sort },
      { do: 'status', text: `sorted by ${sort}`, error: false },
    ];
  }
  const vm = at.vm;
  if (!vm) return none;
  const { ref } = vm;
  if (input === 's') return [{ do: 'act', action: { kind: 'start', ref } }];
  if (input === 'x') return [{ do: 'act', action: { kind: 'stop', ref } }];
  if (input === 'r') return [{ do: 'act', action: { kind: 'restart', ref } }];
  if (input === 'd')
    return [
      question(batch, `Destroy VM ${ref}?`, 'Its container goes; its home volume (the data) too only with D.', [
        { key: 'k', enter: true, label: 'destroy, keep the home (data)', action: { kind: 'destroy', ref, keepData: true } },
        { key: 'D', label: 'destroy and DELETE the home (its data is lost)', action: { kind: 'destroy', ref, keepData: false } },
      ]),
    ];
  if (input === 'l') return [{ do: 'logs', ref: at.logs === ref ? null : ref }];
  if (key.return) return [{ do: 'modal', modal: { kind: 'details', ref } }];
  if (input === 'e') {
    if (vm.state !== 'running') return [{ do: 'status', text: `VM ${ref} is not running: start it first (s).`, error: true }];
    return [
      { do: 'logs', ref: null },
      { do: 'shell', ref },
    ];
  }
  return none;
}

/** An app's start, stop and restart each ask first: a user's bot is not stopped by a stray key. */
function appKey(at: KeyContext, input: string, batch: number): KeyEffect[] {
  const app = at.app;
  if (!app) return none;
  const { ref, status } = app;
  const ask = (verb: 'start' | 'stop' | 'restart', body: string) =>
    question(batch, `${verb[0]?.toUpperCase()}${verb.slice(1)} app ${ref}?`, body, [
      { key: 'y', enter: true, label: verb, action: { kind: `app-${verb}`, ref } },
    ]);
  if (input === 's') {
    if (status === 'running') return [{ do: 'status', text: `The app ${ref} is already running (r restarts it).`, error: true }];
    return [ask('start', 'It runs again, with its secrets and limits as deployed.')];
  }
  if (input === 'x') return [ask('stop', 'It stays stopped until started again (berth does not restart it).')];
  if (input === 'r') return [ask('restart', 'It is stopped, then started again; its crash count starts over.')];
  return none;
}

function userKey(at: KeyContext, input: string, batch: number): KeyEffect[] {
  const user = at.user;
  if (!user) return none;
  const { login } = user;
  if (input === 'a') return [{ do: 'act', action: { kind: 'approve', login } }];
  if (input === 'R') return [{ do: 'act', action: { kind: 'reject', login } }];
  if (input === 'v')
    return [
      question(batch, `Revoke ${login}?`, 'They lose access to their VMs (the VMs are kept).', [
        { key: 'y', label: 'revoke', action: { kind: 'revoke', login } },
      ]),
    ];
  if (input === 'p')
    return [{ do: 'modal', modal: { kind: 'plan', login, current: user.plan, index: Math.max(0, at.plans.indexOf(user.plan)) } }];
  return none;
}

function maintenanceQuestion(on: boolean, batch: number): KeyEffect {
  return question(
    batch,
    on ? 'Turn maintenance off?' : 'Turn maintenance on?',
    on ? 'The VMs it stopped are started again.' : 'Every running VM is stopped, and VMs cannot be started until it ends.',
    [{ key: 'y', label: on ? 'turn it off' : 'turn it on', action: { kind: 'maintenance', on: !on } }],
  );
}

function question(batch: number, title: string, body: string, choices: Extract<Modal, { kind: 'confirm' }>['choices']): KeyEffect {
  return { do: 'modal', modal: { kind: 'confirm', title, body, choices, batch } };
}
