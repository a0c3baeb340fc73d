import type { MaintenanceResult, MaintenanceStatus, ScheduleView } from '../services/nodes/maintenance.js';
import { table } from './table.js';

export function maintenanceLine(m: MaintenanceStatus | MaintenanceResult['maintenance']): string {
  if (!m.on) return 'Maintenance is off.';
  const reason = m.reason ? ` (${m.reason})` : '';
  const until = m.until ? `, until ${m.until}` : '';
  return `Maintenance is ON since ${m.since}${until}${reason}, turned on by ${m.source === 'schedule' ? `window ${m.window}` : 'the operator'}.`;
}

export function resultLines(verb: string, result: MaintenanceResult): string[] {
  const lines = [maintenanceLine(result.maintenance)];
  if (result.changed.length) lines.push(`${verb}: ${result.changed.join(', ')}`);
  for (const f of result.failed) lines.push(`could not handle ${f.vm}: ${f.error}`);
  return lines;
}

export function scheduleTable(schedules: ScheduleView[]): string {
  if (schedules.length === 0) return 'No maintenance windows. Add one with: berth maintenance schedule add "0 3 * * 0" --duration 2h';
  return table(
    ['ID', 'CRON', 'TZ', 'DURATION', 'NOTIFY', 'NEXT START', 'REASON'],
    schedules.map((s) => [s.id, s.cron, s.tz, s.duration, s.notify === '0' ? '-' : s.notify, s.nextStart ?? 'never', s.reason || '-']),
  );
}
