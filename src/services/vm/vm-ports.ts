import type { Actor } from '../../domain/actor.js';
import { type ListeningPort, parseListeningPorts } from '../../domain/listening-ports.js';
import type { Berth } from '../core/context.js';
import { runInVm } from './vm-exec.js';

/** The TCP ports something listens on in a running VM (read as its user from /proc/net), or null when that failed. */
export async function vmListeningPorts(ctx: Berth, ref: string, actor: Actor): Promise<ListeningPort[] | null> {
  const run = await runInVm(
    ctx,
    ref,
    ['cat', '/proc/net/tcp', '/proc/net/tcp6'],
    { timeoutSeconds: 5, maxBytes: 512 * 1024, stopAtLimit: true },
    actor,
  ).catch(() => null);
  return run ? parseListeningPorts(run.stdout.toString('latin1')) : null;
}
