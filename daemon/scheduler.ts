import type { Logger } from 'pino';
import { reviveApps, superviseApps } from '../src/services/apps/apps.js';
import type { Berth } from '../src/services/core/context.js';
import { maintenanceTick, nextDue } from '../src/services/nodes/maintenance.js';
import { enforcePolicies, policyMemory, type SessionCounts } from '../src/services/vm/vm-policies.js';
import { type ConfigValues, effectiveConfig } from '../src/values/config-keys.js';
import type { Components } from './components.js';
import type { Metrics } from './metrics.js';
import { watchDir } from './state-watch.js';

/** How often crashed apps' backoffs and apps' lifetimes are looked at. */
const APPS_TICK_MS = 2000;
/** How often old session recordings are pruned (retention, total cap); sessions starting prune too. */
const RECORDINGS_TICK_MS = 10 * 60_000;

/**
 * Wakes when maintenance work is due (a window's notice, start or end) and every
 * `idle-check-interval` for the idle and lifetime policies. A change to the state
 * file (a window added with the CLI) re-plans the next wake-up at once.
 */
export class Scheduler {
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private policyTimer: NodeJS.Timeout | null = null;
  private appsTimer: NodeJS.Timeout | null = null;
  private recordingsTimer: NodeJS.Timeout | null = null;
  private watcher: { close(): void } | null = null;
  private stopped = false;
  private running: Promise<unknown> = Promise.resolve();
  /** The VMs' CPU readings from one policy pass to the next. */
  private readonly policyMemory = policyMemory();

  constructor(
    private readonly ctx: Berth,
    private readonly components: Components,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly sessions: SessionCounts,
    /** Prunes the session recordings (sessions.record-keep, sessions.record-max). */
    private readonly pruneRecordings: (config: ConfigValues) => Promise<unknown> = async () => undefined,
  ) {}

  start(): void {
    this.components.set('scheduler', 'running', 'maintenance windows and VM policies');
    // Fires once now, then on every change of the state file.
    this.watcher = watchDir(
      this.ctx.store.home,
      (file) => file === 'state.json',
      async () => {
        // Apps' builds (made by the CLI too) are counted as the state records them.
        this.metrics.apps.observe(await this.ctx.store.snapshot());
        await this.planMaintenance(0);
      },
      (err) => this.log.warn({ err: String(err) }, 'watching the state file failed'),
    );
    void this.planPolicies();
    void this.superviseApps(true);
    void this.recordings();
  }

  /** Old session recordings deleted: now, then every RECORDINGS_TICK_MS. */
  private async recordings(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.pruneRecordings(effectiveConfig((await this.ctx.store.read()).config));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'pruning session recordings failed');
    }
    if (!this.stopped) {
      this.recordingsTimer = setTimeout(() => void this.recordings(), RECORDINGS_TICK_MS);
      this.recordingsTimer.unref();
    }
  }

  /** Users' apps: started again where they should run (first), restarts after backoff, lifetimes; every APPS_TICK_MS. */
  private async superviseApps(first = false): Promise<void> {
    if (this.stopped) return;
    try {
      const actions = await this.serial(() =>
        this.metrics.time('apps', async () => [...(first ? await reviveApps(this.ctx) : []), ...(await superviseApps(this.ctx))]),
      );
      for (const action of actions) this.log.info({ action }, 'apps');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'app supervision failed');
    }
    if (!this.stopped) this.appsTimer = setTimeout(() => void this.superviseApps(), APPS_TICK_MS);
  }

  /** Serialises the scheduler's work: a tick never overlaps another. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.running.then(work, work);
    this.running = next.catch(() => undefined);
    return next;
  }

  private plans = 0;

  private planMaintenance(inMs?: number): void {
    if (this.stopped) return;
    if (this.maintenanceTimer) clearTimeout(this.maintenanceTimer);
    // Only the latest plan arms the timer (a state change can re-plan while one is being made).
    const planned = ++this.plans;
    const plan = async () => {
      const state = await this.ctx.store.read();
      const due = nextDue(state);
      return due ? Math.max(0, due.getTime() - Date.now()) : 60_000;
    };
    // A few ms late rather than early: the tick must see the moment as come.
    const arm = (ms: number) => {
      if (planned !== this.plans || this.stopped) return;
      if (this.maintenanceTimer) clearTimeout(this.maintenanceTimer);
      this.log.debug({ inMs: ms }, 'next maintenance wake-up');
      this.maintenanceTimer = setTimeout(() => void this.runMaintenance(), Math.min(ms + 20, 60_000));
    };
    if (inMs !== undefined && inMs > 0) arm(inMs);
    else
      void plan().then(
        (ms) => (ms === 0 && planned === this.plans ? void this.runMaintenance() : arm(ms)),
        (err) => {
          this.components.set('scheduler', 'failed', 'cannot read the state', err);
          arm(5000);
        },
      );
  }

  private async runMaintenance(): Promise<void> {
    this.log.debug('maintenance tick');
    try {
      const actions = await this.serial(() => this.metrics.time('maintenance-tick', () => maintenanceTick(this.ctx)));
      for (const action of actions) this.log.info({ action }, 'maintenance');
      this.components.set('scheduler', 'running', 'maintenance windows and VM policies');
    } catch (err) {
      this.components.set('scheduler', 'failed', 'maintenance tick failed', err);
      this.log.error({ err: (err as Error).message }, 'maintenance tick failed');
    }
    // Wake again after the moment just handled has passed.
    setTimeout(() => this.planMaintenance(0), 1000).unref();
  }

  private async planPolicies(): Promise<void> {
    if (this.stopped) return;
    let interval = 30;
    try {
      interval = effectiveConfig((await this.ctx.store.read()).config)['idle-check-interval'];
      const actions = await this.serial(() =>
        this.metrics.time('policies', () => enforcePolicies(this.ctx, new Date(), this.sessions, this.policyMemory)),
      );
      for (const a of actions) this.log.info({ vm: a.vm, action: a.action, reason: a.reason }, a.detail);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'VM policies failed');
    }
    if (!this.stopped) this.policyTimer = setTimeout(() => void this.planPolicies(), interval * 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.maintenanceTimer) clearTimeout(this.maintenanceTimer);
    if (this.policyTimer) clearTimeout(this.policyTimer);
    if (this.appsTimer) clearTimeout(this.appsTimer);
    if (this.recordingsTimer) clearTimeout(this.recordingsTimer);
    this.watcher?.close();
    await this.running;
    this.policyMemory.stats?.close();
  }
}
