import { z } from 'zod';

/** The machine shape of `berth network apply|status --json` (see services/firewall.ts). */
export const FirewallReportSchema = z.object({
  state: z.enum(['ok', 'missing', 'drifted', 'unavailable', 'off', 'unsupported']),
  detail: z.string(),
  network: z.string(),
  bridge: z.string().nullable(),
  chains: z.array(z.string()),
  problems: z.array(z.string()),
  changes: z.array(z.string()),
});

/** `berth network remove --json`. */
export const FirewallRemovalSchema = z.object({ removed: z.array(z.string()) });
