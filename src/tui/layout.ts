import { type AppRow, appStatsKey, type VmRow } from './data-source.js';
import type { Tab } from './header.js';
import { scrollWindow } from './table.js';

/** How the screen's lines are shared out. */
export interface ScreenLayout {
  /** Lines between the tab bar and the footer. */
  body: number;
  /** Lines of the logs pane (0 when it is not drawn). */
  logsHeight: number;
  /** Lines of a tab's table rows (its title line apart). */
  tableHeight: number;
}

/**
 * Everything within the screen, one line spare so that the terminal never scrolls: two header
 * lines (three with the maintenance banner), the tab bar, the footer; the logs pane takes half
 * the body on the VMs tab when open, and always on the Apps tab (the selected app's output).
 */
export function screenLayout(height: number, maintenanceOn: boolean, logsOpen: boolean, tab: Tab): ScreenLayout {
  const headerLines = maintenanceOn ? 3 : 2;
  const body = Math.max(4, height - 1 - headerLines - 2);
  const logsHeight = (logsOpen && tab === 'VMs') || tab === 'Apps' ? Math.max(3, Math.floor(body / 2)) : 0;
  return { body, logsHeight, tableHeight: body - 1 - logsHeight };
}

/** Which VMs' live numbers to ask for: the running ones on screen first, the other running ones as the source can afford. */
export interface StatsWanted {
  visible: string[];
  others: string[];
}

/**
 * `vms` as the VMs table lists them, `known` every VM; `onTable`: the VMs table is on screen (its
 * tab, nothing over it), scrolled to show `selected` in `tableHeight` lines.
 */
export function statsWanted(vms: VmRow[], known: VmRow[], onTable: boolean, selected: string | null, tableHeight: number): StatsWanted {
  const onScreen = new Set<string>();
  if (onTable) {
    const index = Math.max(
      0,
      vms.findIndex((vm) => vm.ref === (selected ?? '')),
    );
    const { first, visible } = scrollWindow(vms.length, index, tableHeight);
    for (const vm of vms.slice(first, first + visible)) if (vm.state === 'running') onScreen.add(vm.ref);
  }
  return {
    visible: [...onScreen],
    others: known.filter((vm) => vm.state === 'running' && !onScreen.has(vm.ref)).map((vm) => vm.ref),
  };
}

/**
 * The apps' share of the live numbers asked for (under `appStatsKey`): the running apps on the
 * Apps table's screen (`onTable`) first, the other running ones with the others.
 */
export function appStatsWanted(
  vmsWanted: StatsWanted,
  apps: AppRow[],
  onTable: boolean,
  selected: string | null,
  tableHeight: number,
): StatsWanted {
  const onScreen = new Set<string>();
  if (onTable) {
    const index = Math.max(
      0,
      apps.findIndex((app) => app.ref === (selected ?? '')),
    );
    const { first, visible } = scrollWindow(apps.length, index, tableHeight);
    for (const app of apps.slice(first, first + visible)) if (app.status === 'running') onScreen.add(app.ref);
  }
  const others = apps.filter((app) => app.status === 'running' && !onScreen.has(app.ref));
  return {
    visible: [...vmsWanted.visible, ...[...onScreen].map(appStatsKey)],
    others: [...vmsWanted.others, ...others.map((app) => appStatsKey(app.ref))],
  };
}
