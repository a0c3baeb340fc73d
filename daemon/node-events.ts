import type { Logger } from 'pino';
import type { Berth } from '../src/services/core/context.js';
import { clusterOf, requireCluster } from '../src/services/engine/cluster.js';
import { withDeadline } from '../src/services/engine/deadline.js';
import { NODE_DEADLINE_MS } from '../src/services/engine/engines.js';
import type { Components } from './components.js';
import { EventsFollower } from './events.js';
import type { Metrics } from './metrics.js';

/** How often the nodes berth knows an engine of are read again (a new `berth node engine` is followed within this). */
const SYNC_MS = 10_000;

interface Followed {
  /** The endpoint it follows: a changed one is followed afresh. */
  key: string;
  hostname: string;
  follower: EventsFollower;
  up: boolean;
  detail: string;
}

/**
 * Swarm mode: the events of each worker node's engine, followed as the manager's are (the
 * manager's own are the daemon's `events`), so that a VM that dies or runs out of memory on a
 * worker is recorded and its owner told the same way. One follower per node berth knows an
 * endpoint for, each with its own backoff: a node that drops or never answers holds up nothing else.
 */
export class NodeEvents {
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private stopped = false;
  private swarm = false;

  constructor(
    private readonly ctx: Berth,
    private readonly components: Components,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** A node's engine (re)connected: its dockerd may have started again without berth's rules. */
    private readonly onNodeConnected: () => void = () => undefined,
  ) {}

  start(): void {
    this.kick();
    this.timer = setInterval(() => this.kick(), SYNC_MS);
    this.timer.unref();
  }

  /** Reads the nodes again now (not twice at once). */
  kick(): void {
    if (this.syncing || this.stopped) return;
    this.syncing = this.sync()
      .catch((err: unknown) => {
        this.components.set('nodes', 'failed', 'cannot read the Swarm nodes', err);
        this.log.warn({ err: (err as Error).message }, 'could not read the Swarm nodes');
      })
      .finally(() => {
        this.syncing = null;
      });
  }

  private async sync(): Promise<void> {
    const state = await this.ctx.store.read();
    if (!(await clusterOf(this.ctx))) {
      // Nothing to say on one engine, unless it was a Swarm a moment ago.
      if (this.swarm) this.components.set('nodes', 'disabled', 'config engine local');
      this.swarm = false;
      await this.stopAll();
      return;
    }
    this.swarm = true;
    const cluster = await requireCluster(this.ctx);
    const { nodeId: self } = await withDeadline(NODE_DEADLINE_MS, 'answer as the Swarm manager', () => cluster.manager());
    const wanted = new Map(
      (state.nodes ?? []).filter((n) => n.endpoint && n.id !== self).map((n) => [n.id, { key: `${n.endpoint} ${n.tlsDir ?? ''}`, n }]),
    );
    for (const [id, f] of this.followed) {
      if (wanted.get(id)?.key === f.key) continue;
      this.followed.delete(id);
      await f.follower.stop();
    }
    for (const [id, { key, n }] of wanted) {
      if (this.followed.has(id) || this.stopped) continue;
      const entry: Followed = { key, hostname: n.hostname, up: false, detail: 'starting', follower: null as unknown as EventsFollower };
      entry.follower = new EventsFollower(
        this.ctx,
        this.components,
        this.log.child({ node: n.hostname }),
        this.metrics,
        this.onNodeConnected,
        {
          id,
          hostname: n.hostname,
          onStatus: (up, detail) => {
            entry.up = up;
            entry.detail = detail;
            this.report();
          },
        },
      );
      this.followed.set(id, entry);
      entry.follower.start();
    }
    this.report();
  }

  /** `daemon status`: how many nodes' events are followed, and which are not. */
  private report(): void {
    const all = [...this.followed.values()];
    if (all.length === 0) {
      this.components.set('nodes', 'running', 'no worker node engine known (berth node engine NODE ENDPOINT)');
      return;
    }
    const down = all.filter((f) => !f.up);
    this.components.set(
      'nodes',
      down.length === 0 ? 'running' : 'failed',
      `following the events of ${all.length - down.length} of ${all.length} worker node(s)${
        down.length ? `; not: ${down.map((f) => `${f.hostname} (${f.detail})`).join(', ')}` : ''
      }`,
    );
  }

  private async stopAll(): Promise<void> {
    const all = [...this.followed.values()];
    this.followed.clear();
    await Promise.all(all.map((f) => f.follower.stop()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    await this.stopAll();
  }
}
