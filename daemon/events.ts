import type { Logger } from 'pino';
import { instanceFilter, LABEL } from '../src/docker/labels.js';
import type { DockerRuntime } from '../src/docker/runtime.js';
import { recordAppEvent } from '../src/services/apps/apps.js';
import type { Berth } from '../src/services/core/context.js';
import { requireCluster } from '../src/services/engine/cluster.js';
import { withDeadline } from '../src/services/engine/deadline.js';
import { NODE_DEADLINE_MS, reachable } from '../src/services/engine/engines.js';
import { recordVmEvent, takeOnTask } from '../src/services/vm/vm-events.js';
import { reconcileObserved } from '../src/services/vm/vm-status.js';
import type { Components } from './components.js';
import type { Metrics } from './metrics.js';

const ACTIONS = ['start', 'die', 'oom'];
/** How often a Swarm node's engine is asked whether it still answers while its events are followed (a silent link ends the follow). */
const NODE_PING_MS = 15_000;

/** A Swarm node whose engine a follower watches (not given: berth's own engine). */
export interface FollowedNode {
  id: string;
  hostname: string;
  /** Told each time the node's events are followed (true) or lost (false, with why). */
  onStatus(up: boolean, detail: string): void;
}

/**
 * Follows the engine's start/die/oom events for this home's VMs. When the engine goes
 * away it reports itself failed and retries with backoff; when it is back it replays
 * what it missed (the engine's `since`) and re-reads every VM's state. With `node`, the
 * engine is that Swarm node's: every wait on it has a deadline, and it is asked every
 * NODE_PING_MS whether it still answers.
 */
export class EventsFollower {
  private stopped = false;
  private stream: NodeJS.ReadableStream | null = null;
  private lastSeen: Date | null = null;
  private loop: Promise<void> | null = null;
  private finish: (() => void) | null = null;
  private handled: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: Berth,
    private readonly components: Components,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** Called each time the engine's event stream is (re)connected: after an engine restart, too. */
    private readonly onConnected: () => void = () => undefined,
    private readonly node?: FollowedNode,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      try {
        await this.follow();
        delay = 500;
      } catch (err) {
        if (this.stopped) break;
        const retry = `retrying in ${Math.round(delay / 100) / 10} s`;
        if (this.node) this.node.onStatus(false, `${(err as Error).message} (${retry})`);
        else this.components.set('events', 'failed', retry, err);
        this.log.warn({ err: (err as Error).message, ...(this.node ? { node: this.node.hostname } : {}) }, 'docker events unavailable');
      }
      if (this.stopped) break;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, delay);
        this.finish = () => {
          clearTimeout(timer);
          r();
        };
      });
      // A node that is away may be so for long: asked less often (each try may wait its deadline).
      delay = Math.min(delay * 2, this.node ? 30_000 : 5000);
    }
  }

  private async follow(): Promise<void> {
    const state = await this.ctx.store.read();
    const node = this.node;
    let runtime: DockerRuntime;
    if (node) {
      runtime = await reachable(await (await requireCluster(this.ctx)).nodeEngine(node.id), node.hostname);
    } else {
      runtime = await this.ctx.runtime();
      await runtime.version();
    }
    const since = this.lastSeen ?? new Date();
    const asked = runtime.followEvents({ since, labels: instanceFilter(state.instanceId), actions: ACTIONS });
    this.stream = node
      ? await withDeadline(NODE_DEADLINE_MS, 'follow events', () => asked).catch((err: unknown) => {
          // A stream that comes after the deadline is let go of.
          asked.then(destroy, () => undefined);
          throw err;
        })
      : await asked;
    if (this.stopped) {
      destroy(this.stream);
      return;
    }
    let buffer = '';
    // Listeners first: a connection dropped while we re-read VM states must still end this follow.
    const ended = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      const stream = this.stream as NodeJS.ReadableStream;
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          // One at a time, in the engine's order (an oom before the die it causes).
          if (line) this.handled = this.handled.then(() => this.handle(line));
          nl = buffer.indexOf('\n');
        }
      });
      const lost = (err?: Error) => (this.stopped ? resolve() : reject(err ?? new Error('the engine closed the event stream')));
      stream.on('end', () => lost());
      stream.on('close', () => lost());
      stream.on('error', lost);
    });
    const stream = this.stream;
    // A node whose link goes silent (no reset, no answer) ends the follow: the engine is asked now and then.
    const ping = node
      ? setInterval(() => {
          reachable(runtime, node.hostname).catch(() => destroy(stream));
        }, NODE_PING_MS)
      : null;
    try {
      if (node) node.onStatus(true, `following ${runtime.address}`);
      else this.components.set('events', 'running', `following ${runtime.address}`);
      this.log.info({ since: since.toISOString(), ...(node ? { node: node.hostname } : {}) }, 'following docker events');
      this.onConnected();
      // Whatever happened while we were away is in the engine's state now.
      await reconcileObserved(this.ctx, node).catch((err) => this.log.warn({ err: (err as Error).message }, 'could not re-read VM states'));
      await ended;
    } finally {
      if (ping) clearInterval(ping);
    }
  }

  private async handle(line: string): Promise<void> {
    try {
      const e = JSON.parse(line) as { id: string; Action: string; timeNano: number; Actor?: { Attributes?: Record<string, string> } };
      const attributes = e.Actor?.Attributes ?? {};
      const time = new Date(Math.floor(e.timeNano / 1e6));
      this.lastSeen = time;
      this.metrics.dockerEvents.inc({ action: e.Action });
      const exitCode = e.Actor?.Attributes?.exitCode;
      // An app's container (berth's supervisor restarts it), or an app's build (nothing to record).
      if (attributes[LABEL.app] || attributes[LABEL.build]) {
        // An app's start is berth's own doing (recorded when berth starts it): nothing to record.
        if (!attributes[LABEL.app] || e.Action === 'start') return;
        const outcome = await this.metrics.time(`app-event-${e.Action}`, () =>
          recordAppEvent(this.ctx, {
            containerId: e.id,
            action: e.Action as 'start' | 'die' | 'oom',
            exitCode: exitCode === undefined ? undefined : Number(exitCode),
            time,
          }),
        );
        if (outcome)
          this.log.info(
            { app: `${outcome.app.user}/${outcome.app.name}`, action: e.Action, exitCode, status: outcome.app.status },
            'app event recorded',
          );
        return;
      }
      const done = await this.metrics.time(`event-${e.Action}`, () =>
        recordVmEvent(this.ctx, {
          containerId: e.id,
          action: e.Action as 'start' | 'die' | 'oom',
          exitCode: exitCode === undefined ? undefined : Number(exitCode),
          time,
          labels: { user: attributes[LABEL.user], vm: attributes[LABEL.vm] },
          ...(this.node ? { node: this.node.hostname } : {}),
        }),
      );
      // Swarm replaced the VM's task: its new container is checked and taken on, without holding up the next events.
      if (e.Action === 'start' && attributes[LABEL.user]) {
        const labels = { user: attributes[LABEL.user], vm: attributes[LABEL.vm] };
        void takeOnTask(this.ctx, { containerId: e.id, labels }).catch((err: unknown) =>
          this.log.warn({ err: (err as Error).message, container: e.id.slice(0, 12) }, "could not take on the VM's new container"),
        );
      }
      if (done)
        this.log.info(
          { vm: done.split(' ')[1], action: e.Action, exitCode, ...(this.node ? { node: this.node.hostname } : {}) },
          'vm event recorded',
        );
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not handle a docker event');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.finish?.();
    if (this.stream) destroy(this.stream);
    await this.loop;
  }
}

const destroy = (stream: NodeJS.ReadableStream) => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
