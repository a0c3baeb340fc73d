import { z } from 'zod';

/** The machine shape of one config key in `--json` output (see services/config.ts). */
export const ConfigEntrySchema = z.object({
  key: z.string(),
  value: z.string(),
  source: z.enum(['set', 'default']),
  default: z.string(),
  description: z.string(),
});
