import { type LiveStats, liveStats } from '../docker/live-stats.js';
import type { Berth } from './context.js';

export type { LiveStats };

/** How often the numbers of VMs off screen are read again (those on screen: at every read). */
const OTHERS_EVERY_MS = 5000;
/** Between the first two readings of a row that comes on screen. */
const FIRST_CPU_MS = 300;
/** VMs whose last numbers are kept (the off-screen ones between two of their reads). */
const MAX_KEPT = 10_000;

export interface VmLiveStats {
  /**
   * Live numbers of running VMs, by ref: `visible` (the rows on screen) at every call, `others`
   * now and then where the source can afford it (the cgroup files; not the engine's streams).
   */
  read(
    visible: Array<{ ref: string; containerId: string }>,
    others: Array<{ ref: string; containerId: string }>,
  ): Promise<Map<string, LiveStats>>;
  close(): void;
}

/** For a dashboard: numbers of the VMs on screen first, from a source whose cost does not grow per VM per refresh. */
export function vmLiveStats(ctx: Berth): VmLiveStats {
  let source: ReturnType<typeof liveStats> | null = null;
  const kept = new Map<string, LiveStats>();
  let othersAt = 0;
  return {
    async read(visible, others) {
      source ??= liveStats(await ctx.runtime());
      const s = source;
      const wanted = [...visible];
      // The engine's streams are for the rows on screen only; the cgroup files are cheap enough for all, now and then.
      if (s.kind !== 'engine' && Date.now() - othersAt >= OTHERS_EVERY_MS) {
        othersAt = Date.now();
        wanted.push(...others);
      }
      const read = await s.read(wanted.map((w) => w.containerId));
      // Rows on screen read for the first time have no CPU yet: a second reading a moment later gives it.
      const fresh = visible.filter((v) => read.get(v.containerId)?.cpuPercent === null).map((v) => v.containerId);
      if (fresh.length && s.kind === 'cgroup') {
        await new Promise((resolve) => setTimeout(resolve, FIRST_CPU_MS));
        for (const [id, again] of await s.read(fresh)) read.set(id, again);
      }
      const out = new Map<string, LiveStats>();
      for (const { ref, containerId } of [...visible, ...others]) {
        const now = read.get(containerId);
        if (now) kept.set(containerId, now);
        const known = now ?? kept.get(containerId);
        if (known) out.set(ref, known);
      }
      // Only running VMs are asked about: numbers of the others go.
      const asked = new Set([...visible, ...others].map((w) => w.containerId));
      for (const id of kept.keys()) if (!asked.has(id) || kept.size > MAX_KEPT) kept.delete(id);
      return out;
    },
    close() {
      source?.close();
    },
  };
}
