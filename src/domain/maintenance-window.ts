import type { Maintenance } from '../state/schema.js';
import { utcMinute } from '../values/durations.js';

/**
 * What every front-end says of a maintenance window after "maintenance": ` (kernel upgrade) until
 * 2026-12-01 10:45 UTC`, each part only when known (the CLI's refusals, the SSH banner, the
 * notices, the bot's /admin_info). `safe` makes the reason safe where it is shown (HTML for the bot).
 */
export function maintenanceWindow(m: Pick<Maintenance, 'reason' | 'until'>, safe: (text: string) => string = (text) => text): string {
  return `${m.reason ? ` (${safe(m.reason)})` : ''}${m.until ? ` until ${utcMinute(m.until)}` : ''}`;
}
