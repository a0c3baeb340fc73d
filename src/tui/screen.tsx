import { Box, Text } from 'ink';
import type { ReactNode } from 'react';
import { AppsTable } from './apps-table.js';
import { ColourContext, Tint } from './colour.js';
import { ConfirmDialog } from './confirm-dialog.js';
import type { Snapshot } from './data-source.js';
import { Details } from './details.js';
import { EventsView } from './events-view.js';
import type { FooterLine } from './footer.js';
import { Header, type Tab, TabBar } from './header.js';
import { HelpOverlay } from './help-overlay.js';
import type { AppLogs } from './hooks/use-app-logs.js';
import { HINTS } from './keys.js';
import type { ScreenLayout } from './layout.js';
import type { TabLists } from './lists.js';
import type { Logs } from './logs.js';
import { LogsPane } from './logs-pane.js';
import { NodesTable } from './nodes-table.js';
import { PlanPicker } from './plan-picker.js';
import { PlansTable } from './plans-table.js';
import { ScheduleView } from './schedule-view.js';
import { UsersTable } from './users-table.js';
import type { Modal } from './view.js';
import { VmTable } from './vm-table.js';

export interface ScreenProps {
  width: number;
  height: number;
  colour: boolean;
  /** null until the first snapshot (or the state file's part of it) comes. */
  snap: Snapshot | null;
  tab: Tab;
  modal: Modal | null;
  lists: TabLists;
  /** Each tab's selected row. */
  current: Record<Tab, string | null>;
  logs: Logs | null;
  /** The Apps tab's pane: the selected app's last output. */
  appLogs?: AppLogs | null;
  layout: ScreenLayout;
  footer: FooterLine;
}

/** The whole screen, drawn from what it is given: header, tab bar, the tab's list (or what is open over it), footer. */
export function Screen({ width, height, colour, snap, tab, modal, lists, current, logs, appLogs, layout, footer }: ScreenProps) {
  return (
    <ColourContext.Provider value={colour}>
      <Box flexDirection="column" width={width} height={height - 1}>
        <Header
          host={snap?.host ?? null}
          engine={snap?.engine ?? 'waiting'}
          daemon={snap?.daemon ?? null}
          maintenance={snap?.maintenance ?? null}
        />
        <TabBar active={tab} hint={HINTS[tab]} tabs={lists.tabs} />
        <Box flexDirection="column" height={layout.body} overflow="hidden">
          <Content
            snap={snap}
            tab={tab}
            modal={modal}
            lists={lists}
            current={current}
            logs={logs}
            appLogs={appLogs}
            layout={layout}
            width={width}
          />
        </Box>
        <Footer line={footer} />
      </Box>
    </ColourContext.Provider>
  );
}

function Content({
  snap,
  tab,
  modal,
  lists,
  current,
  logs,
  appLogs,
  layout,
  width,
}: Omit<ScreenProps, 'height' | 'colour' | 'footer'>): ReactNode {
  if (!snap) return <Text dimColor>reading berth's state…</Text>;
  if (modal?.kind === 'help') return <HelpOverlay width={width} />;
  if (modal?.kind === 'details') {
    const vm = lists.rows.find((v) => v.ref === modal.ref);
    return vm ? <Details vm={vm} events={snap.events} height={layout.body} /> : <Text>{`VM ${modal.ref} is gone.`}</Text>;
  }
  if (modal?.kind === 'confirm') return <ConfirmDialog title={modal.title} body={modal.body} choices={modal.choices} />;
  if (modal?.kind === 'plan')
    return <PlanPicker login={modal.login} current={modal.current} plans={snap.plans.map((p) => p.name)} selected={modal.index} />;
  const table = { width, height: layout.tableHeight };
  switch (tab) {
    case 'VMs':
      return (
        <Box flexDirection="column">
          <VmTable vms={lists.vms} selected={current.VMs} now={lists.now} nodes={lists.swarm} {...table} />
          {logs ? <LogsPane vm={logs.ref} lines={logs.lines} ended={logs.ended} height={layout.logsHeight} width={width} /> : null}
        </Box>
      );
    case 'Users':
      return <UsersTable users={lists.users} selected={current.Users} {...table} />;
    case 'Plans':
      return <PlansTable plans={lists.plans} selected={current.Plans} {...table} />;
    case 'Schedule':
      return <ScheduleView maintenance={snap.maintenance} selected={current.Schedule} {...table} />;
    case 'Nodes':
      return <NodesTable nodes={lists.nodes} selected={current.Nodes} {...table} />;
    case 'Events':
      return <EventsView events={lists.events} selected={current.Events} {...table} />;
    case 'Apps':
      return (
        <Box flexDirection="column">
          <AppsTable apps={lists.apps} selected={current.Apps} now={lists.now} {...table} />
          {current.Apps ? <AppOutput logs={appLogs ?? null} app={current.Apps} height={layout.logsHeight} width={width} /> : null}
        </Box>
      );
  }
}

/** The selected app's last output, read again now and then (not followed). */
function AppOutput({ logs, app, height, width }: { logs: AppLogs | null; app: string; height: number; width: number }) {
  const note =
    !logs || logs.reading ? 'reading…' : logs.problem ? logs.problem : `last ${logs.lines.length} line(s), read again every few seconds`;
  const lines = logs?.problem ? [] : (logs?.lines ?? []);
  return <LogsPane vm={app} lines={lines} ended={null} height={height} width={width} title={` output of app ${app} (${note}) `} />;
}

function Footer({ line }: { line: FooterLine }) {
  if (line.tone === 'dim') return <Text dimColor>{line.text}</Text>;
  if (line.tone === 'plain') return <Text wrap="truncate">{line.text}</Text>;
  return (
    <Tint color={line.tone} wrap="truncate">
      {line.text}
    </Tint>
  );
}
