/** A moment as berth shows it to people: `2026-12-01 10:45 UTC`. */
export const utcMinute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/**
 * What every front-end says of a maintenance window after "maintenance": ` (reason) until
 * 2026-12-01 10:45 UTC`, each part only when known. `escape` makes the reason safe for the
 * front-end (HTML for the bot).
 */
export function maintenanceWindow(m: { reason: string; until: string | null }, escape: (text: string) => string = (t) => t): string {
  return `${m.reason ? ` (${escape(m.reason)})` : ''}${m.until ? ` until ${utcMinute(m.until)}` : ''}`;
}
