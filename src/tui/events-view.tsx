import type { VmEventEntry } from '../state/schema.js';
import { eventColour } from './colour.js';
import { shortTime } from './format.js';
import { type Column, Table } from './table.js';

export const eventKey = (e: VmEventEntry) => `${e.at} ${e.vm} ${e.kind}`;

const COLUMNS: Column<VmEventEntry>[] = [
  { title: 'TIME', width: 14, priority: 10, text: (e) => shortTime(e.at) },
  { title: 'VM', width: 14, priority: 9, text: (e) => e.vm },
  { title: 'EVENT', width: 16, priority: 10, text: (e) => e.kind, colour: (e) => eventColour(e.kind) },
  { title: 'REASON', width: 10, grow: true, priority: 8, text: (e) => e.reason },
];

/** The latest VM events, newest first. */
export function EventsView(props: { events: VmEventEntry[]; selected: string | null; width: number; height: number }) {
  return (
    <Table
      columns={COLUMNS}
      rows={props.events}
      rowKey={eventKey}
      selected={props.selected}
      width={props.width}
      height={props.height}
      empty="no VM events yet"
    />
  );
}
