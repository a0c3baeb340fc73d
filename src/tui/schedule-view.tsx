import { Box, Text } from 'ink';
import type { MaintenanceStatus, ScheduleView as Window } from '../services/nodes/maintenance.js';
import { Tint } from './colour.js';
import { DASH, shortTime } from './format.js';
import { type Column, Table } from './table.js';

const COLUMNS: Column<Window>[] = [
  { title: 'ID', width: 4, priority: 10, text: (w) => w.id },
  { title: 'CRON', width: 14, priority: 9, text: (w) => w.cron },
  { title: 'TZ', width: 12, priority: 4, text: (w) => w.tz },
  { title: 'LASTS', width: 6, priority: 8, text: (w) => w.duration },
  { title: 'NOTICE', width: 6, priority: 3, text: (w) => w.notify },
  { title: 'NEXT RUN', width: 14, priority: 10, text: (w) => (w.nextStart ? shortTime(w.nextStart) : DASH) },
  { title: 'REASON', width: 8, grow: true, priority: 5, text: (w) => w.reason },
];

/** Maintenance now, and the scheduled windows with their next run. */
export function ScheduleView(props: { maintenance: MaintenanceStatus; selected: string | null; width: number; height: number }) {
  const m = props.maintenance;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        {'Maintenance: '}
        <Tint color={m.on ? 'red' : 'green'} bold>
          {m.on ? 'ON' : 'off'}
        </Tint>
        {m.on
          ? `${m.reason ? ` (${m.reason})` : ''} since ${m.since ? shortTime(m.since) : '?'}${m.until ? ` until ${shortTime(m.until)}` : ''}; ${m.stoppedVms.length} VM(s) stopped`
          : ''}
        <Text dimColor>
          {'   m: turn maintenance '}
          {m.on ? 'off' : 'on'}
        </Text>
      </Text>
      <Table
        columns={COLUMNS}
        rows={m.schedules}
        rowKey={(w) => w.id}
        selected={props.selected}
        width={props.width}
        height={props.height - 1}
        empty='no windows (berth maintenance schedule add "0 3 * * 0" --duration 2h)'
      />
    </Box>
  );
}
