import { type LiveStats, type LiveStatsOptions, type LiveStatsSource, liveStats } from '../../docker/live-stats.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';

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
    visible: Array<{ ref: string; containerId: string; node?: string }>,
    others: Array<{ ref: string; containerId: string; node?: string }>,
  ): Promise<Map<string, LiveStats>>;
  close(): void;
}

/** A node whose numbers take longer than this has none this time (the others still have theirs). */
const NODE_READ_MS = 3000;

type Wanted = { ref: string; containerId: string; node?: string };

/**
 * For a dashboard: numbers of the VMs on screen first, from a source whose cost does not grow
 * per VM per refresh; on Swarm one source per node (its cgroup files where it is this machine,
 * else its engine), the nodes read in parallel.
 */
export function vmLiveStats(ctx: Berth, options: LiveStatsOptions = {}): VmLiveStats {
  const sources = new Map<string, LiveStatsSource>();
  const kept = new Map<string, LiveStats>();
  const othersAt = new Map<string, number>();
  const sourceOf = async (node: string) => {
    let source = sources.get(node);
    if (!source) {
      source = liveStats(await (await ctx.backend()).engineOf({ node: node || undefined }), options);
      sources.set(node, source);
    }
    return source;
  };
  const readNode = async (node: string, visible: Wanted[], others: Wanted[]) => {
    const s = await sourceOf(node);
    const wanted = [...visible];
    // The engine's streams are for the rows on screen only; the cgroup files are cheap enough for all, now and then.
    if (s.kind !== 'engine' && Date.now() - (othersAt.get(node) ?? 0) >= OTHERS_EVERY_MS) {
      othersAt.set(node, Date.now());
      wanted.push(...others);
    }
    const read = await s.read(wanted.map((w) => w.containerId));
    // Rows on screen read for the first time have no CPU yet: a second reading a moment later gives it.
    const fresh = visible.filter((v) => read.get(v.containerId)?.cpuPercent === null).map((v) => v.containerId);
    if (fresh.length && s.kind === 'cgroup') {
      await new Promise((resolve) => setTimeout(resolve, FIRST_CPU_MS));
      for (const [id, again] of await s.read(fresh)) read.set(id, again);
    }
    return read;
  };
  return {
    async read(visible, others) {
      const nodes = new Set([...visible, ...others].map((w) => w.node ?? ''));
      const read = new Map<string, LiveStats>();
      await Promise.all(
        [...nodes].map(async (node) => {
          const mine = (list: Wanted[]) => list.filter((w) => (w.node ?? '') === node);
          const got = await withDeadline(NODE_READ_MS, `read the numbers of node ${node || 'local'}`, () =>
            readNode(node, mine(visible), mine(others)),
          ).catch(() => new Map<string, LiveStats>());
          for (const [id, stats] of got) read.set(id, stats);
        }),
      );
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
      // Sources of nodes no longer asked about go (bounded by the nodes berth knows anyway).
      for (const [node, source] of sources) {
        if (!nodes.has(node)) {
          source.close();
          sources.delete(node);
        }
      }
      return out;
    },
    close() {
      for (const source of sources.values()) source.close();
      sources.clear();
    },
  };
}
