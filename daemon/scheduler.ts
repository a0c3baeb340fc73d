import type { Logger } from 'pino';
import { reviveApps, superviseApps } from '../src/services/apps/apps.js';
import {
  type BackupEvent,
  type BackupFailureNotice,
  BackupRunner,
  backupClock,
  repositoryOps,
  thawHome,
} from '../src/services/backups/schedule.js';
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
  private backupsTimer: NodeJS.Timeout | null = null;
  private watcher: { close(): void } | null = null;
  private stopped = false;
  private running: Promise<unknown> = Promise.resolve();
  /** The VMs' CPU readings from one policy pass to the next. */
  private readonly policyMemory = policyMemory();
  /** Scheduled backups of homes: their own queue (one at a time), apart from `serial` (a backup can take hours). */
  private readonly backups: BackupRunner;
  private readonly backupTickMs: number;

  constructor(
    private readonly ctx: Berth,
    private readonly components: Components,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly sessions: SessionCounts,
    /** Prunes the session recordings (sessions.record-keep, sessions.record-max). */
    private readonly pruneRecordings: (config: ConfigValues) => Promise<unknown> = async () => undefined,
    /** Tells the admins (a home's backups failed twice in a row). */
    tellAdmins: (notice: BackupFailureNotice) => Promise<void> = async () => undefined,
  ) {
    const clock = backupClock();
    this.backupTickMs = clock.tickMs;
    this.backups = new BackupRunner({
      ops: repositoryOps(ctx),
      readState: () => ctx.store.snapshot(),
      now: clock.now,
      onEvent: (event) => this.backupEvent(event),
      tellAdmins,
    });
  }

  start(): void {
    this.components.set('scheduler', 'running', 'maintenance windows, VM policies, apps, backups');
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
    this.backupsTimer = setTimeout(() => void this.backupTick(), this.backupTickMs);
  }

  /** Homes due for a backup backed up, one at a time; then again every backupTickMs (a minute). */
  private async backupTick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.backups.tick();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'scheduled backups failed');
    }
    if (!this.stopped) this.backupsTimer = setTimeout(() => void this.backupTick(), this.backupTickMs);
  }

  /** What the backup runner reports: the metrics, and the log. */
  private backupEvent(event: BackupEvent): void {
    this.metrics.backups.observe(event);
    const log = this.log.child({ part: 'backups' });
    switch (event.kind) {
      case 'no-repository':
        log.warn({ err: event.message }, 'a plan backs homes up, but there is no backup repository: berth backup init');
        break;
      case 'list-failed':
        log.warn({ err: event.message }, 'could not list the snapshots; scheduled backups wait');
        break;
      case 'loaded':
        log.debug({ homes: event.last.size }, 'last snapshots read from the repository');
        break;
      case 'started':
        log.debug({ home: event.home.home, due: event.home.slot.toISOString() }, 'scheduled backup started');
        break;
      case 'backed-up':
        log.info(
          { home: event.home.home, snapshot: event.result.snapshot, bytesAdded: event.result.bytesAdded, seconds: event.result.seconds },
          'home backed up',
        );
        break;
      case 'busy':
        log.info({ home: event.home.home }, 'another backup or restore is running; scheduled backups wait for the next tick');
        break;
      case 'failed':
        log.warn({ home: event.home.home, consecutive: event.consecutive, err: event.message }, 'scheduled backup failed');
        break;
      case 'forgot':
        log.info({ home: event.home.home, keep: event.home.keep, removed: event.removed }, 'retention applied');
        break;
      case 'forget-failed':
        log.warn({ home: event.home.home, err: event.message }, 'retention failed');
        break;
      default:
        break;
    }
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
      this.components.set('scheduler', 'running', 'maintenance windows, VM policies, apps, backups');
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
    if (this.backupsTimer) clearTimeout(this.backupsTimer);
    this.watcher?.close();
    // A backup running on: its VM is let go now (berth daemon stop kills the daemon after 10 s).
    await this.backups.stop(3000);
    const frozen = this.backups.current();
    if (frozen) {
      const thawed = await thawHome(this.ctx, frozen).catch(() => false);
      this.log.warn({ home: frozen, thawed }, 'the daemon stopped during a backup of this home; it will be backed up again');
    }
    await this.running;
    this.policyMemory.stats?.close();
  }
}
