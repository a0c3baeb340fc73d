import type { ConfigEntry } from '../services/config.js';
import type { PlanView } from '../views/plan-view.js';
import type { KeyView, UserView } from '../views/user-view.js';
import { table } from './table.js';

const orDefault = (value: string | number | null) => (value === null ? 'default' : String(value));

export function planSummary(plan: PlanView): string {
  return `${orDefault(plan.cpu)} CPU, ${orDefault(plan.ram)} RAM, ${plan.gpu} GPU, ${plan.pids} processes, ${plan.maxVms} VM(s) per user`;
}

export function planTable(plans: PlanView[]): string {
  if (plans.length === 0) return 'No plans. Add one with: berth plan add NAME --cpu 2 --ram 4g';
  return table(
    ['NAME', 'CPU', 'RAM', 'GPU', 'PIDS', 'MAX VMS', 'USERS', 'DESCRIPTION'],
    plans.map((p) => [p.name, orDefault(p.cpu), orDefault(p.ram), p.gpu, p.pids, p.maxVms, p.users.length, p.description]),
  );
}

export function planDetails(plan: PlanView): string {
  return fields([
    ['Plan', plan.name],
    ['CPU', orDefault(plan.cpu)],
    ['RAM', orDefault(plan.ram)],
    ['GPU', plan.gpu],
    ['Processes', plan.pids],
    ['VMs per user', plan.maxVms],
    ['Description', plan.description || '-'],
    ['Users', plan.users.join(', ') || '-'],
  ]);
}

export function userTable(users: UserView[]): string {
  if (users.length === 0) return 'No users. Allow one with: berth user allow LOGIN';
  return table(
    ['LOGIN', 'STATUS', 'ROLE', 'PLAN', 'TELEGRAM ID', 'KEYS', 'CREATED'],
    users.map((u) => [u.login, u.status, u.role, u.plan, u.telegramId ?? '-', u.keys.length, u.createdAt.slice(0, 10)]),
  );
}

export function userDetails(user: UserView): string {
  const head = fields([
    ['User', user.login],
    ['Status', user.status],
    ['Role', user.role],
    ['Plan', user.plan],
    ['Telegram id', user.telegramId ?? '-'],
    ['Created', user.createdAt],
  ]);
  return `${head}\n\n${keyTable(user.keys)}`;
}

export function keyTable(keys: KeyView[]): string {
  if (keys.length === 0) return 'No SSH keys. Add one with: berth user key add LOGIN --file ~/.ssh/id_ed25519.pub';
  return table(
    ['FINGERPRINT', 'TYPE', 'BITS', 'COMMENT', 'ADDED'],
    keys.map((k) => [k.fingerprint, k.type, k.bits, k.comment || '-', k.addedAt.slice(0, 10)]),
  );
}

export function configTable(entries: ConfigEntry[]): string {
  return table(
    ['KEY', 'VALUE', 'SOURCE', 'DESCRIPTION'],
    entries.map((e) => [e.key, e.value || '-', e.source, e.description]),
  );
}

function fields(rows: Array<[string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
}
