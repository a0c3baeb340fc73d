import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import pLimit from 'p-limit';
import { type DockerRuntime, statsOf, type VmStats } from './runtime.js';

/**
 * Live numbers of running containers from a source whose cost does not grow with a fresh
 * two-sample engine call per container: the containers' cgroup files where the engine runs on
 * this machine (a few small reads each, no engine call at all), else the engine's stats streams
 * for a bounded number of containers (the ones on screen).
 */

/** A container's numbers; CPU is null until there are two readings of it. */
export interface LiveStats extends Omit<VmStats, 'cpuPercent'> {
  cpuPercent: number | null;
}

export interface LiveStatsSource {
  /** Where the numbers come from, once known (`null` before the first read with a running container). */
  readonly kind: 'cgroup' | 'engine' | null;
  /**
   * The latest numbers of these running containers; those the source has none of yet are left
   * out. CPU is the share of one core since the previous read of the same container.
   * The engine source streams only the first `MAX_STREAMS` of `ids` (give the ones on screen first).
   */
  read(ids: string[]): Promise<Map<string, LiveStats>>;
  /** Where the numbers of these running containers come from (decided at the first call). */
  which(ids: string[]): Promise<'cgroup' | 'engine' | null>;
  /** One complete reading of each container (two samples a second apart), `concurrency` engine calls at a time where it takes them. */
  sample(ids: string[], concurrency: number): Promise<Map<string, PromiseSettledResult<VmStats>>>;
  close(): void;
}

/** Engine stats streams open at once (each makes the engine sample its container every second). */
export const MAX_STREAMS = 32;
/** Readings of containers not read for this long are forgotten. */
const FORGET_MS = 5 * 60_000;
/** Containers whose files are read between two turns of the event loop. */
const READ_BATCH = 64;
/** A container's stream that failed is not opened again for this long. */
const RETRY_MS = 10_000;

/** Where a container's controllers' files are, under the cgroup root. */
interface CgroupLayout {
  version: 1 | 2;
  dir(controller: 'cpu' | 'memory' | 'pids', id: string): string;
}

/** The layouts Docker makes (cgroupfs and systemd drivers, cgroup v1 and v2), probed in this order. */
const LAYOUTS: CgroupLayout[] = [
  { version: 2, dir: (_c, id) => `system.slice/docker-${id}.scope` },
  { version: 2, dir: (_c, id) => `docker/${id}` },
  { version: 1, dir: (c, id) => `${c === 'cpu' ? 'cpuacct' : c}/docker/${id}` },
  { version: 1, dir: (c, id) => `${c === 'cpu' ? 'cpu,cpuacct' : c}/docker/${id}` },
  { version: 1, dir: (c, id) => `${c === 'cpu' ? 'cpuacct' : c}/system.slice/docker-${id}.scope` },
  { version: 1, dir: (c, id) => `${c === 'cpu' ? 'cpu,cpuacct' : c}/system.slice/docker-${id}.scope` },
];

const cpuFile = (layout: CgroupLayout) => (layout.version === 2 ? 'cpu.stat' : 'cpuacct.usage');

/**
 * A cgroup or /proc file: read synchronously. They live in memory (sysfs, procfs), a read never
 * waits on a disk, and four syscalls in a row cost a fraction of what the same read costs through
 * the thread pool and its promises — which matters at hundreds of containers a second.
 */
const text = (path: string) => readFileSync(path, 'utf8');
const number = (value: string | undefined) => {
  const n = Number(value?.trim());
  return Number.isFinite(n) ? n : 0;
};
const field = (body: string, name: string) => number(new RegExp(`^${name} (\\d+)$`, 'm').exec(body)?.[1]);
const exists = (path: string) => {
  try {
    text(path);
    return true;
  } catch {
    return false;
  }
};

/**
 * The cgroup layout of these running containers on this machine, or null where their files are not
 * here (a remote engine, rootless Docker, a custom cgroup parent). A few are tried, in case one
 * stopped meanwhile.
 */
export function probeCgroups(root: string, ids: string[]): CgroupLayout | null {
  for (const id of ids.slice(0, 5)) {
    const layout = LAYOUTS.find((l) => exists(join(root, l.dir('cpu', id), cpuFile(l))));
    if (layout) return layout;
  }
  return null;
}

/** Received and sent bytes of a process's network namespace, loopback left out. */
function network(root: string, layout: CgroupLayout, id: string, proc: string): { rx: number; tx: number } | null {
  try {
    const pid = text(join(root, layout.dir('pids', id), 'cgroup.procs'))
      .split('\n')[0]
      ?.trim();
    if (!pid) return null;
    let rx = 0;
    let tx = 0;
    for (const line of text(join(proc, pid, 'net', 'dev'))
      .split('\n')
      .slice(2)) {
      const [name, counters] = line.split(':');
      if (!counters || name?.trim() === 'lo') continue;
      const values = counters.trim().split(/\s+/);
      rx += number(values[0]);
      tx += number(values[8]);
    }
    return { rx, tx };
  } catch {
    return null;
  }
}

interface CpuReading {
  at: bigint;
  usageNs: number;
  seen: number;
  /** The memory limit, read once: it changes only with `docker update`. */
  limit: number;
}

/** What a reading takes: the dashboard needs CPU and memory only; `vm stats` everything. */
interface Wanted {
  full: boolean;
}

/** One container's numbers from its cgroup files (`limit`: already known). Throws when they are gone (it stopped). */
function readCgroup(
  root: string,
  proc: string,
  layout: CgroupLayout,
  id: string,
  wanted: Wanted,
  limit?: number,
): { reading: CpuReading; stats: Omit<LiveStats, 'cpuPercent'> } {
  const mem = join(root, layout.dir('memory', id));
  const cpu = text(join(root, layout.dir('cpu', id), cpuFile(layout)));
  const at = process.hrtime.bigint();
  const usage = text(join(mem, layout.version === 2 ? 'memory.current' : 'memory.usage_in_bytes'));
  const stat = text(join(mem, 'memory.stat'));
  const max =
    limit ??
    (() => {
      const body = text(join(mem, layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'));
      return body.trim() === 'max' ? 0 : number(body);
    })();
  let pids = 0;
  if (wanted.full) {
    try {
      pids = number(text(join(root, layout.dir('pids', id), 'pids.current')));
    } catch {
      pids = 0;
    }
  }
  const net = wanted.full ? network(root, layout, id, proc) : null;
  const usageNs = layout.version === 2 ? field(cpu, 'usage_usec') * 1000 : number(cpu);
  // As Docker counts it: without the page cache that can be dropped.
  const cache = layout.version === 2 ? field(stat, 'inactive_file') : field(stat, 'total_inactive_file');
  return {
    reading: { at, usageNs, seen: Date.now(), limit: max },
    stats: {
      memoryUsedBytes: Math.max(0, number(usage) - cache),
      memoryLimitBytes: max,
      pids,
      netRxBytes: net?.rx ?? 0,
      netTxBytes: net?.tx ?? 0,
    },
  };
}

const cpuBetween = (a: CpuReading, b: CpuReading) => {
  const elapsed = Number(b.at - a.at);
  return elapsed > 0 ? Math.max(0, ((b.usageNs - a.usageNs) / elapsed) * 100) : null;
};

/** Numbers from the cgroup files: no engine call; memory of each container's last reading, bounded. */
class CgroupSource {
  private readonly last = new Map<string, CpuReading>();

  constructor(
    private readonly root: string,
    private readonly proc: string,
    private readonly layout: CgroupLayout,
  ) {}

  async read(ids: string[], wanted: Wanted = { full: false }): Promise<Map<string, LiveStats>> {
    const out = new Map<string, LiveStats>();
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      // The event loop gets a turn between batches (keys stay answered with hundreds of containers).
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const id of ids.slice(i, i + READ_BATCH)) {
        const before = this.last.get(id);
        let read: ReturnType<typeof readCgroup>;
        try {
          read = readCgroup(this.root, this.proc, this.layout, id, wanted, before?.limit);
        } catch {
          // A container that stopped meanwhile has no files any more: it is left out.
          this.last.delete(id);
          continue;
        }
        this.last.set(id, read.reading);
        out.set(id, { ...read.stats, cpuPercent: before ? cpuBetween(before, read.reading) : null });
      }
    }
    this.forget();
    return out;
  }

  private forget(): void {
    const now = Date.now();
    for (const [id, reading] of this.last) if (now - reading.seen > FORGET_MS) this.last.delete(id);
  }
}

/** Numbers from the engine's stats streams, at most MAX_STREAMS open, each closed when its container is no longer asked for. */
class EngineSource {
  private readonly streams = new Map<string, { stream: NodeJS.ReadableStream | null; latest: LiveStats | null; closed: boolean }>();
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly runtime: DockerRuntime) {}

  read(ids: string[]): Map<string, LiveStats> {
    const wanted = new Set(ids.slice(0, MAX_STREAMS));
    for (const [id, entry] of this.streams) {
      if (!wanted.has(id)) this.stop(id, entry);
    }
    for (const id of wanted) {
      if (this.streams.has(id) || Date.now() - (this.failedAt.get(id) ?? 0) < RETRY_MS) continue;
      this.open(id);
    }
    const out = new Map<string, LiveStats>();
    for (const id of ids) {
      const latest = this.streams.get(id)?.latest;
      if (latest) out.set(id, latest);
    }
    return out;
  }

  private open(id: string): void {
    const entry: { stream: NodeJS.ReadableStream | null; latest: LiveStats | null; closed: boolean } = {
      stream: null,
      latest: null,
      closed: false,
    };
    this.streams.set(id, entry);
    const failed = () => {
      this.failedAt.set(id, Date.now());
      if (this.streams.get(id) === entry) this.streams.delete(id);
    };
    this.runtime.statsStream(id).then(
      (stream) => {
        if (entry.closed) {
          destroy(stream);
          return;
        }
        entry.stream = stream;
        let buffer = '';
        stream.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          // Bounded: a document is a few KB; a stream that sends no newline is cut off.
          if (buffer.length > 1024 ** 2) buffer = '';
          let newline = buffer.indexOf('\n');
          while (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            newline = buffer.indexOf('\n');
            if (!line) continue;
            try {
              const doc = JSON.parse(line) as Docker.ContainerStats;
              // The first document has no previous sample: no CPU yet.
              const primed = Boolean(doc.precpu_stats?.system_cpu_usage);
              const stats = statsOf(doc);
              entry.latest = { ...stats, cpuPercent: primed ? stats.cpuPercent : (entry.latest?.cpuPercent ?? null) };
            } catch {
              // Not a document: skipped.
            }
          }
        });
        stream.on('error', failed);
        stream.on('end', failed);
      },
      () => failed(),
    );
  }

  private stop(id: string, entry: { stream: NodeJS.ReadableStream | null; closed: boolean }): void {
    entry.closed = true;
    if (entry.stream) destroy(entry.stream);
    this.streams.delete(id);
  }

  close(): void {
    for (const [id, entry] of this.streams) this.stop(id, entry);
    this.failedAt.clear();
  }
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

export interface LiveStatsOptions {
  /** The cgroup file system's root (tests point it elsewhere). */
  cgroupRoot?: string;
  procRoot?: string;
}

/**
 * The live numbers of a runtime's containers: the cgroup files when the first running container
 * asked about has them on this machine, else the engine. Decided once, at the first read.
 */
export function liveStats(runtime: DockerRuntime, options: LiveStatsOptions = {}): LiveStatsSource {
  const root = options.cgroupRoot ?? '/sys/fs/cgroup';
  const proc = options.procRoot ?? '/proc';
  let chosen: CgroupSource | EngineSource | null = null;
  let kind: 'cgroup' | 'engine' | null = null;
  let engine: EngineSource | null = null;
  const backend = (ids: string[]) => {
    if (!chosen) {
      const layout = probeCgroups(root, ids);
      kind = layout ? 'cgroup' : 'engine';
      if (layout) chosen = new CgroupSource(root, proc, layout);
      else {
        engine = new EngineSource(runtime);
        chosen = engine;
      }
    }
    return chosen;
  };
  return {
    get kind() {
      return kind;
    },
    async which(ids) {
      if (ids.length > 0) await backend(ids);
      return kind;
    },
    async read(ids) {
      if (ids.length === 0) return new Map();
      const source = await backend(ids);
      return source.read(ids);
    },
    async sample(ids, concurrency) {
      if (ids.length === 0) return new Map();
      const source = await backend(ids);
      if (source instanceof CgroupSource) {
        // Two readings a second apart, as the engine takes them; a container gone meanwhile is refused.
        await source.read(ids, { full: true });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const after = await source.read(ids, { full: true });
        return new Map(
          ids.map((id): [string, PromiseSettledResult<VmStats>] => {
            const s = after.get(id);
            return s
              ? [id, { status: 'fulfilled', value: { ...s, cpuPercent: s.cpuPercent ?? 0 } }]
              : [id, { status: 'rejected', reason: new Error('the container is not running') }];
          }),
        );
      }
      const limit = pLimit(Math.max(1, concurrency));
      const results = await Promise.allSettled(ids.map((id) => limit(() => runtime.stats(id))));
      return new Map(ids.map((id, i) => [id, results[i] as PromiseSettledResult<VmStats>]));
    },
    close() {
      engine?.close();
    },
  };
}
