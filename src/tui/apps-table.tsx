import type { AppRow } from './data-source.js';
import { DASH, mb, span } from './format.js';
import { type Column, Table } from './table.js';

/** An app's status colour: running green, on its way cyan, restarting after a crash yellow, stopped grey, broken red. */
export function appStatusColour(status: string): string {
  if (status === 'running') return 'green';
  if (status === 'starting' || status === 'building') return 'cyan';
  if (status === 'restarting') return 'yellow';
  if (status === 'stopped') return 'gray';
  return 'red';
}

const uptimeMs = (app: AppRow, now: Date) => (app.status === 'running' && app.startedAt ? now.getTime() - Date.parse(app.startedAt) : -1);

/** Stopped: why, when berth knows (`stopped:lifetime`). */
const statusText = (app: AppRow) => (app.status === 'stopped' && app.stopReason ? `stopped:${app.stopReason}` : app.status);

export function appColumns(now: Date): Column<AppRow>[] {
  return [
    { title: 'USER', width: 8, grow: true, priority: 9, text: (a) => a.user },
    { title: 'APP', width: 4, grow: true, priority: 9, text: (a) => a.name },
    { title: 'STATUS', width: 12, max: 19, priority: 10, text: statusText, colour: (a) => appStatusColour(a.status) },
    { title: 'RESTARTS', width: 8, align: 'right', priority: 7, text: (a) => String(a.restarts) },
    { title: 'UPTIME', width: 6, align: 'right', priority: 6, text: (a) => (uptimeMs(a, now) < 0 ? DASH : span(uptimeMs(a, now))) },
    { title: 'CPU%', width: 5, align: 'right', priority: 8, text: (a) => (a.cpuPercent === null ? DASH : a.cpuPercent.toFixed(1)) },
    {
      title: 'MEM MB',
      width: 11,
      align: 'right',
      priority: 7,
      text: (a) =>
        a.memoryUsedBytes === null ? `${DASH}/${mb(a.ramBytes)}` : `${mb(a.memoryUsedBytes)}/${mb(a.memoryLimitBytes ?? a.ramBytes)}`,
    },
    { title: 'CPUS', width: 4, align: 'right', priority: 4, text: (a) => String(a.cpu) },
  ];
}

export interface AppsTableProps {
  apps: AppRow[];
  selected: string | null;
  width: number;
  height: number;
  now: Date;
}

export function AppsTable({ apps, selected, width, height, now }: AppsTableProps) {
  return (
    <Table
      columns={appColumns(now)}
      rows={apps}
      rowKey={(a) => a.ref}
      selected={selected}
      width={width}
      height={height}
      empty="no apps (deploy one: berth app deploy USER/NAME SOURCE)"
    />
  );
}
