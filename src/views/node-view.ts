import { z } from 'zod';
import { formatSize } from '../values/sizes.js';

/** The machine shape of a Swarm node in `berth node list|show --json`. */
export const NodeViewSchema = z.object({
  id: z.string(),
  hostname: z.string(),
  role: z.enum(['manager', 'worker']),
  leader: z.boolean(),
  /** Swarm's: ready, down, unknown, disconnected. */
  state: z.string(),
  /** Swarm's: active, pause, drain. */
  availability: z.string(),
  /** berth's: drained by `berth node drain` (no new VMs). */
  drained: z.boolean(),
  /** How berth reaches the node's engine (empty: not set; the manager: berth's own engine). */
  engine: z.string(),
  /** ok, down (does not answer within the deadline), unknown (not set), or not asked (list without a check). */
  engineState: z.enum(['ok', 'down', 'unknown', 'unchecked']),
  cpus: z.number(),
  memoryBytes: z.number(),
  memory: z.string(),
  gpus: z.number(),
  /** What berth's VMs that should run there reserve. */
  reserved: z.object({ cpus: z.number(), memoryBytes: z.number(), memory: z.string(), gpus: z.number() }),
  vms: z.number(),
  /** berth's firewall rules on the node (`berth node show`; absent from a list): ok, missing, drifted, unavailable, off, unsupported. */
  firewall: z.object({ state: z.string(), detail: z.string() }).optional(),
  /** Whether berth places new VMs there, and if not, why. */
  acceptsVms: z.boolean(),
  problems: z.array(z.string()),
});
export type NodeView = z.infer<typeof NodeViewSchema>;

export const memoryText = (bytes: number) => formatSize(bytes);
