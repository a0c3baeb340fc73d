import { statusColour } from './colour.js';
import type { UserRow } from './data-source.js';
import { DASH } from './format.js';
import { type Column, Table } from './table.js';

const COLUMNS: Column<UserRow>[] = [
  { title: 'USER', width: 10, grow: true, priority: 10, text: (u) => u.login },
  { title: 'STATUS', width: 8, priority: 10, text: (u) => u.status, colour: (u) => statusColour(u.status) },
  { title: 'ROLE', width: 5, priority: 4, text: (u) => u.role },
  { title: 'PLAN', width: 10, priority: 8, text: (u) => u.plan },
  { title: 'TELEGRAM', width: 12, priority: 5, text: (u) => (u.telegramId === null ? DASH : String(u.telegramId)) },
  { title: 'DISCORD', width: 19, priority: 3, text: (u) => u.discordId ?? DASH },
  { title: 'KEYS', width: 4, align: 'right', priority: 6, text: (u) => String(u.keys) },
  { title: 'VMS', width: 3, align: 'right', priority: 7, text: (u) => String(u.vms) },
];

export function UsersTable(props: { users: UserRow[]; selected: string | null; width: number; height: number }) {
  return (
    <Table
      columns={COLUMNS}
      rows={props.users}
      rowKey={(u) => u.login}
      selected={props.selected}
      width={props.width}
      height={props.height}
      empty="no users (add one: berth user allow LOGIN)"
    />
  );
}
