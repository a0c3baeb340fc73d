import type { StatusLine } from './actions.js';
import type { Modal } from './view.js';
import type { VmSort } from './vm-table.js';

/** The footer's line and how it is drawn: `plain` and `dim` in the terminal's colours, the others in theirs. */
export interface FooterLine {
  text: string;
  tone: 'plain' | 'dim' | 'red' | 'green' | 'yellow';
}

export interface FooterState {
  editingFilter: boolean;
  filter: string;
  status: StatusLine | null;
  problems: string[];
  modal: Modal | null;
  sort: VmSort;
}

/**
 * What the footer says, first of: the filter being typed, an action's status, the snapshot's
 * problems, what closes the details, the filter kept or the sort (and what q does).
 */
export function footerLine({ editingFilter, filter, status, problems, modal, sort }: FooterState): FooterLine {
  if (editingFilter) return { text: `/${filter}█  (Enter keeps, Esc clears)`, tone: 'plain' };
  if (status) return { text: status.text, tone: status.error ? 'red' : 'green' };
  if (problems.length) return { text: problems.join('; '), tone: 'yellow' };
  // The footer says what q does where the user is: it closes a pane before it quits.
  if (modal?.kind === 'details') return { text: 'q, Esc or Enter closes the details', tone: 'dim' };
  return { text: filter ? `filter: ${filter} (Esc clears)` : `sort: ${sort} · q quit`, tone: 'dim' };
}
