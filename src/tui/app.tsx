import { useApp } from 'ink';
import type { DataSource, Snapshot } from './data-source.js';
import { footerLine } from './footer.js';
import { useActions } from './hooks/use-actions.js';
import { useAppLogs } from './hooks/use-app-logs.js';
import { useKeyQueue } from './hooks/use-key-queue.js';
import { useLiveStats } from './hooks/use-live-stats.js';
import { useLogs } from './hooks/use-logs.js';
import { useSnapshots } from './hooks/use-snapshots.js';
import { useStatus } from './hooks/use-status.js';
import { useTerminalSize } from './hooks/use-terminal-size.js';
import { useView } from './hooks/use-view.js';
import { keyEffects } from './keys.js';
import { appStatsWanted, screenLayout, statsWanted } from './layout.js';
import { tabLists } from './lists.js';
import { Screen } from './screen.js';
import { currentKeys } from './selection.js';
import { type UiState, uiToKeep } from './view.js';

export type { UiState } from './view.js';

/** How the app ended: quit, or asked for a shell in a VM (the caller runs it and renders the app again). */
export type AppExit = { shell: string; ui: UiState } | undefined;

export interface AppProps {
  source: DataSource;
  /** Between two refreshes (ms). */
  refreshMs?: number;
  colour?: boolean;
  /** Size of the screen; by default the terminal's, following resizes. */
  width?: number;
  height?: number;
  initial?: Partial<UiState>;
  /** How long an action's outcome stays in the status line (ms). */
  statusMs?: number;
  /** A first snapshot already on its way (read while the app's modules loaded): the first refresh takes it. */
  first?: Promise<Snapshot>;
  /** The state file's part of it (`DataSource.quick`), drawn until the first snapshot is. */
  quick?: Promise<Snapshot>;
}

/** How long an action's outcome stays in the status line (any key clears it sooner). */
const STATUS_MS = 5000;

/**
 * The dashboard: the hooks hold its state and polling (hooks/), pure functions decide what the
 * keys do and what is shown (keys.ts, lists.ts, layout.ts, footer.ts), `Screen` draws it.
 */
export function App({
  source,
  refreshMs = 1500,
  colour = true,
  width: w,
  height: h,
  initial,
  statusMs = STATUS_MS,
  first,
  quick,
}: AppProps) {
  const { exit } = useApp();
  const { width, height } = useTerminalSize(w, h);
  const { status, set: setStatus, putAway } = useStatus(statusMs);
  const stats = useLiveStats(source);
  const {
    snap,
    vms: known,
    refresh,
  } = useSnapshots(source, {
    refreshMs,
    first,
    quick,
    onUnchanged: stats.readNow,
    onError: (text) => setStatus({ text, error: true }),
  });
  const [view, change] = useView(initial);
  const logs = useLogs(source);
  const run = useActions(source, setStatus, refresh);

  const lists = tabLists(snap, known, stats.live, view.filter, view.sort);
  const current = currentKeys(lists.keysOf, view.selected);
  const layout = screenLayout(height, snap?.maintenance.on ?? false, logs.logs !== null, view.tab);
  // The running VMs (and apps) on screen get their numbers first; the others as the source can afford.
  const vmsWanted = statsWanted(lists.vms, known, view.tab === 'VMs' && !view.modal, current.VMs, layout.tableHeight);
  stats.ask(appStatsWanted(vmsWanted, lists.apps, view.tab === 'Apps' && !view.modal, current.Apps, layout.tableHeight), known);
  // The selected app's last output, while the Apps tab shows it.
  const appLogs = useAppLogs(source, view.tab === 'Apps' ? current.Apps : null, Math.max(refreshMs * 2, 50));

  useKeyQueue((input, key, batch) => {
    putAway();
    const vm = lists.vms.find((v) => v.ref === current.VMs) ?? null;
    const user = lists.users.find((u) => u.login === current.Users) ?? null;
    const app = lists.apps.find((a) => a.ref === current.Apps) ?? null;
    const effects = keyEffects(
      {
        tab: view.tab,
        tabs: lists.tabs,
        sort: view.sort,
        filter: view.filter,
        editingFilter: view.editingFilter,
        modal: view.modal,
        keys: lists.keysOf[view.tab],
        current: current[view.tab],
        vm,
        user,
        app: app && { ref: app.ref, status: app.status },
        plans: (snap?.plans ?? []).map((p) => p.name),
        maintenanceOn: snap?.maintenance.on ?? false,
        logs: logs.logs?.ref ?? null,
      },
      input,
      key,
      batch,
    );
    for (const effect of effects) {
      switch (effect.do) {
        case 'quit':
          exit();
          break;
        case 'shell':
          exit({ shell: effect.ref, ui: uiToKeep(view, current.VMs) });
          break;
        case 'act':
          void run(effect.action);
          break;
        case 'logs':
          if (effect.ref) void logs.open(effect.ref);
          else logs.close();
          break;
        case 'status':
          setStatus({ text: effect.text, error: effect.error });
          break;
        default:
          change(effect);
      }
    }
  });

  return (
    <Screen
      width={width}
      height={height}
      colour={colour}
      snap={snap}
      tab={view.tab}
      modal={view.modal}
      lists={lists}
      current={current}
      logs={logs.logs}
      appLogs={appLogs}
      layout={layout}
      footer={footerLine({
        editingFilter: view.editingFilter,
        filter: view.filter,
        status,
        problems: snap?.problems ?? [],
        modal: view.modal,
        sort: view.sort,
      })}
    />
  );
}
