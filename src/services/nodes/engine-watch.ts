import { instanceFilter } from '../../docker/labels.js';
import type { Berth } from '../core/context.js';
import { type EngineReading, readEngine } from '../vm/vm-status.js';

/** Container events that change what a list of VMs shows. */
const WATCHED = ['create', 'start', 'die', 'destroy', 'pause', 'unpause', 'oom', 'rename'];
/** How long a reading serves while no event says anything changed (a safety net for a lost event). */
const READING_MS = 15_000;
/** A lost events stream is followed again after this long. */
const RETRY_MS = 5000;

export interface EngineWatch {
  /** What the engine says about this home's VMs: read again only when its events said something changed. `view`: the state to read it through. */
  reading(view?: Berth): Promise<EngineReading>;
  /** The caller changed something on the engine: the next reading is a fresh one. */
  changed(): void;
  /** Stops following the engine's events (a later `reading` follows them again). */
  close(): void;
}

/**
 * For a dashboard refreshing every second or two: the engine is listed again only after one of
 * this home's container events (or every READING_MS), not at every refresh, so that hundreds of
 * VMs at rest cost the engine nothing. Without the events stream every reading is a fresh one.
 */
export function watchEngine(ctx: Berth): EngineWatch {
  let last: { value: EngineReading; at: number } | null = null;
  let changed = true;
  let stream: NodeJS.ReadableStream | null = null;
  let triedAt = 0;
  let generation = 0;
  const stop = (s: NodeJS.ReadableStream) => (s as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  return {
    async reading(view = ctx) {
      const [runtime, state] = await Promise.all([view.runtime(), view.store.read()]);
      if (!stream && Date.now() - triedAt >= RETRY_MS) {
        triedAt = Date.now();
        const mine = generation;
        const followed = await runtime.followEvents({ labels: instanceFilter(state.instanceId), actions: WATCHED }).catch(() => null);
        if (followed && mine !== generation) stop(followed);
        else if (followed) {
          stream = followed;
          changed = true;
          const lost = () => {
            if (stream !== followed) return;
            stream = null;
            changed = true;
          };
          followed.on('data', () => {
            changed = true;
          });
          followed.on('error', lost);
          followed.on('end', lost);
          followed.on('close', lost);
        }
      }
      if (last && stream && !changed && Date.now() - last.at < READING_MS) return last.value;
      // Events during the read mark the next one as needed.
      changed = false;
      try {
        const value = await readEngine(runtime, state, state.vms);
        last = { value, at: Date.now() };
        return value;
      } catch (err) {
        changed = true;
        throw err;
      }
    },
    changed() {
      changed = true;
    },
    close() {
      generation++;
      if (stream) stop(stream);
      stream = null;
      triedAt = 0;
    },
  };
}
