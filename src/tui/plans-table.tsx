import type { PlanRow } from './data-source.js';
import { DASH, shortSize } from './format.js';
import { type Column, Table } from './table.js';

const COLUMNS: Column<PlanRow>[] = [
  { title: 'PLAN', width: 10, priority: 10, text: (p) => p.name },
  { title: 'CPU', width: 4, align: 'right', priority: 9, text: (p) => String(p.cpu) },
  { title: 'RAM', width: 6, align: 'right', priority: 9, text: (p) => shortSize(p.ramBytes) },
  { title: 'GPU', width: 3, align: 'right', priority: 5, text: (p) => String(p.gpu) },
  { title: 'MAX VMS', width: 7, align: 'right', priority: 6, text: (p) => String(p.maxVms) },
  { title: 'USERS', width: 20, grow: true, priority: 8, text: (p) => (p.users.length ? `${p.users.length}: ${p.users.join(', ')}` : DASH) },
];

export function PlansTable(props: { plans: PlanRow[]; selected: string | null; width: number; height: number }) {
  return (
    <Table
      columns={COLUMNS}
      rows={props.plans}
      rowKey={(p) => p.name}
      selected={props.selected}
      width={props.width}
      height={props.height}
      empty="no plans (berth init makes the defaults)"
    />
  );
}
