import type { Action } from './actions.js';
import type { ConfirmChoice } from './confirm-dialog.js';
import type { Tab } from './header.js';
import type { VmSort } from './vm-table.js';

/** What survives leaving the TUI for a shell and coming back. */
export interface UiState {
  tab: Tab;
  selected: Partial<Record<Tab, string | null>>;
  sort: VmSort;
  filter: string;
}

/** One answer of a question: its key, and the action it runs. */
export interface ConfirmOption extends ConfirmChoice {
  action: Action;
}

/** What is drawn over the tab's list, and takes the keys while it is there. */
export type Modal =
  | { kind: 'help' }
  | {
      kind: 'confirm';
      title: string;
      body?: string;
      choices: ConfirmOption[];
      /** The input batch whose key opened it: keys that came with it are not answers. */
      batch: number;
    }
  | { kind: 'details'; ref: string }
  | { kind: 'plan'; login: string; current: string; index: number };

/** Where the operator is: the tab, each tab's selected row, the VMs' order, the filter, what is open over the list. */
export interface ViewState extends UiState {
  editingFilter: boolean;
  modal: Modal | null;
}

/** A change of where the operator is (what a key asks of the view). */
export type ViewChange =
  | { do: 'tab'; tab: Tab }
  | { do: 'select'; tab: Tab; key: string | null }
  | { do: 'sort'; sort: VmSort }
  | { do: 'filter'; filter: string }
  | { do: 'edit-filter'; editing: boolean }
  | { do: 'modal'; modal: Modal | null };

export function initialView(initial?: Partial<UiState>): ViewState {
  return {
    tab: initial?.tab ?? 'VMs',
    selected: initial?.selected ?? {},
    sort: initial?.sort ?? 'user',
    filter: initial?.filter ?? '',
    editingFilter: false,
    modal: null,
  };
}

export function applyView(view: ViewState, change: ViewChange): ViewState {
  switch (change.do) {
    case 'tab':
      return { ...view, tab: change.tab };
    case 'select':
      return { ...view, selected: { ...view.selected, [change.tab]: change.key } };
    case 'sort':
      return { ...view, sort: change.sort };
    case 'filter':
      return { ...view, filter: change.filter };
    case 'edit-filter':
      return { ...view, editingFilter: change.editing };
    case 'modal':
      return { ...view, modal: change.modal };
  }
}

/** What is kept for the app's return from a shell: the VMs tab's row as shown (the first when none was chosen). */
export function uiToKeep(view: ViewState, currentVm: string | null): UiState {
  return { tab: view.tab, selected: { ...view.selected, VMs: currentVm }, sort: view.sort, filter: view.filter };
}
