import type { Logger } from 'pino';
import { instanceFilter } from '../src/docker/labels.js';
import type { Berth } from '../src/services/context.js';
import { recordVmEvent } from '../src/services/vm-events.js';
import { reconcileObserved } from '../src/services/vm-status.js';
import type { Components } from './components.js';
import type { Metrics } from './metrics.js';

const ACTIONS = ['start', 'die', 'oom'];

/**
 * Follows the engine's start/die/oom events for this home's VMs. When the engine goes
 * away it reports itself failed and retries with backoff; when it is back it replays
 * what it missed (the engine's `since`) and re-reads every VM's state.
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
        this.components.set('events', 'failed', `retrying in ${Math.round(delay / 100) / 10} s`, err);
        this.log.warn({ err: (err as Error).message }, 'docker events unavailable');
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  private async follow(): Promise<void> {
    const state = await this.ctx.store.read();
    const runtime = await this.ctx.runtime();
    await runtime.version();
    const since = this.lastSeen ?? new Date();
    this.stream = await runtime.followEvents({ since, labels: instanceFilter(state.instanceId), actions: ACTIONS });
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
    this.components.set('events', 'running', `following ${runtime.address}`);
    this.log.info({ since: since.toISOString() }, 'following docker events');
    this.onConnected();
    // Whatever happened while we were away is in the engine's state now.
    await reconcileObserved(this.ctx).catch((err) => this.log.warn({ err: (err as Error).message }, 'could not re-read VM states'));
    await ended;
  }

  private async handle(line: string): Promise<void> {
    try {
      const e = JSON.parse(line) as { id: string; Action: string; timeNano: number; Actor?: { Attributes?: Record<string, string> } };
      const time = new Date(Math.floor(e.timeNano / 1e6));
      this.lastSeen = time;
      this.metrics.dockerEvents.inc({ action: e.Action });
      const exitCode = e.Actor?.Attributes?.exitCode;
      const done = await this.metrics.time(`event-${e.Action}`, () =>
        recordVmEvent(this.ctx, {
          containerId: e.id,
          action: e.Action as 'start' | 'die' | 'oom',
          exitCode: exitCode === undefined ? undefined : Number(exitCode),
          time,
        }),
      );
      if (done) this.log.info({ vm: done.split(' ')[1], action: e.Action, exitCode }, 'vm event recorded');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not handle a docker event');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.finish?.();
    (this.stream as unknown as { destroy?: () => void } | null)?.destroy?.();
    await this.loop;
  }
}
