import type { MaintenanceStatus } from '../../src/services/nodes/maintenance.js';
import type { VmEventEntry } from '../../src/state/schema.js';
import {
  type AppRow,
  appStatsKey,
  type DataSource,
  type LiveVm,
  type PlanRow,
  type Snapshot,
  type UserRow,
  type VmRow,
} from '../../src/tui/data-source.js';
import type { NodeView } from '../../src/views/node-view.js';

/** A VM as the real data source would give it, running, with stats. */
export function vmRow(user: string, name: string, over: Partial<VmRow> = {}): VmRow {
  return {
    ref: `${user}/${name}`,
    user,
    name,
    plan: 'basic',
    image: 'berth-vm:latest',
    desired: 'running',
    state: 'running',
    containerId: `c0ffee${user.slice(0, 6)}`,
    cpu: 1,
    ram: '1g',
    ramBytes: 1024 ** 3,
    pids: 512,
    gpu: 0,
    sudo: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    lastStartedAt: new Date(Date.now() - 3_600_000).toISOString(),
    lastStoppedAt: null,
    lastExitCode: null,
    oomKilledAt: null,
    stopReason: null,
    nextStop: null,
    home: '0123456789ab',
    diskBytes: 10 * 1024 ** 3,
    diskUsedBytes: 1288 * 1024 ** 2,
    rootfsBytes: 10 * 1024 ** 3,
    rootfsUsedBytes: null,
    cpuPercent: 1.5,
    memoryUsedBytes: 100 * 1024 ** 2,
    memoryLimitBytes: 1024 ** 3,
    sessions: null,
    ...over,
  };
}

/** An app as the real data source would give it, running for an hour, with live numbers. */
export function appRow(user: string, name: string, over: Partial<AppRow> = {}): AppRow {
  return {
    ref: `${user}/${name}`,
    user,
    name,
    status: 'running',
    desired: 'running',
    restarts: 0,
    startedAt: new Date(Date.now() - 3_600_000).toISOString(),
    stopReason: null,
    cpu: 0.5,
    ramBytes: 256 * 1024 ** 2,
    cpuPercent: 2.5,
    memoryUsedBytes: 40 * 1024 ** 2,
    memoryLimitBytes: 256 * 1024 ** 2,
    ...over,
  };
}

export function userRow(login: string, over: Partial<UserRow> = {}): UserRow {
  return { login, status: 'allowed', role: 'user', plan: 'basic', telegramId: null, discordId: null, keys: 1, vms: 1, ...over };
}

/**
 * An in-memory berth for component tests: actions change what the next snapshot
 * shows, as the services do, and are recorded in `calls`.
 */
export class FakeSource implements DataSource {
  calls: string[] = [];
  vms: VmRow[];
  users: UserRow[];
  plans: PlanRow[];
  events: VmEventEntry[] = [];
  maintenance: MaintenanceStatus = {
    on: false,
    reason: '',
    since: null,
    until: null,
    source: null,
    window: null,
    stoppedVms: [],
    schedules: [
      {
        id: 'w1',
        cron: '0 3 * * 0',
        tz: 'UTC',
        duration: '2h',
        notify: '30m',
        reason: 'kernel upgrade',
        nextStart: '2030-01-06T03:00:00.000Z',
      },
    ],
  };
  logListeners: Array<(text: string) => void> = [];
  /** While set, followLogs waits for it (a slow engine). */
  logsGate: Promise<void> | null = null;
  problems: string[] = [];
  failNext: Error | null = null;
  /** While set, liveStats waits for it (stats that are slow, or never come). */
  statsGate: Promise<void> | null = null;
  /** What each liveStats call asked for: the refs on screen, and how many others. */
  statsAsked: Array<{ visible: string[]; others: number }> = [];
  /** Steps maintenance on/off tell of their progress, then wait for `actionGate` when set. */
  progressSteps: string[] = [];
  actionGate: Promise<void> | null = null;
  /** On Swarm: its nodes (null: one engine). */
  nodes: NodeView[] | null = null;
  /** Users' apps (none unless a test gives some). */
  apps: AppRow[] = [];
  /** Each app's output, by ref (an app without: "has no output yet", as the service says). */
  appOutput = new Map<string, string>();
  /** Each read of an app's output: `REF LINES`. */
  appLogReads: string[] = [];
  /** Whether the engine answers ('waiting': not yet; 'down': it was asked and did not). */
  engine: 'up' | 'down' | 'waiting' = 'up';

  constructor(init: { vms?: VmRow[]; users?: UserRow[] } = {}) {
    this.vms = init.vms ?? [vmRow('alice', 'main'), vmRow('bob', 'main')];
    this.users = init.users ?? [userRow('alice'), userRow('bob'), userRow('dave', { status: 'pending', vms: 0, keys: 0 })];
    this.plans = ['basic', 'standard', 'pro'].map((name, i) => ({
      name,
      cpu: i + 1,
      ramBytes: (i + 1) * 1024 ** 3,
      gpu: 0,
      maxVms: 1,
      maxLifetimeSeconds: 0,
      sudo: false,
      description: '',
      users: [],
    }));
  }

  async snapshot(): Promise<Snapshot> {
    return {
      at: new Date(),
      host:
        this.engine !== 'up'
          ? null
          : {
              name: 'testhost',
              engineVersion: '27.0.1',
              cpus: 8,
              memoryBytes: 16 * 1024 ** 3,
              reserved: { cpus: 2, memoryBytes: 2 * 1024 ** 3, vms: 2 },
            },
      daemon: {
        running: true,
        pid: 42,
        version: '0.1.0',
        startedAt: null,
        uptimeSeconds: 1,
        socket: '/x',
        components: [
          { name: 'api', state: 'running', detail: '', lastError: null, since: '' },
          { name: 'ssh', state: 'disabled', detail: '', lastError: null, since: '' },
        ],
        maintenance: null,
      },
      engine: this.engine,
      maintenance: structuredClone(this.maintenance),
      // As the real source: the rows come without live numbers; liveStats gives those.
      vms: this.vms.map((v) => ({ ...v, cpuPercent: null, memoryUsedBytes: null, memoryLimitBytes: null })),
      users: this.users.map((u) => ({ ...u })),
      plans: this.plans.map((p) => ({ ...p, users: this.users.filter((u) => u.plan === p.name).map((u) => u.login) })),
      events: [...this.events],
      nodes: this.nodes ? structuredClone(this.nodes) : null,
      apps: this.apps.map((a) => ({ ...a, cpuPercent: null, memoryUsedBytes: null, memoryLimitBytes: null })),
      problems: [...this.problems],
    };
  }

  async liveStats(visible: string[], others: string[]): Promise<Map<string, LiveVm>> {
    this.statsAsked.push({ visible, others: others.length });
    if (this.statsGate) await this.statsGate;
    const out = new Map<string, LiveVm>();
    for (const vm of this.vms) {
      if (vm.state !== 'running' || vm.memoryUsedBytes === null || ![...visible, ...others].includes(vm.ref)) continue;
      out.set(vm.ref, { cpuPercent: vm.cpuPercent, memoryUsedBytes: vm.memoryUsedBytes, memoryLimitBytes: vm.memoryLimitBytes ?? 0 });
    }
    for (const app of this.apps) {
      const key = appStatsKey(app.ref);
      if (app.status !== 'running' || app.memoryUsedBytes === null || ![...visible, ...others].includes(key)) continue;
      out.set(key, { cpuPercent: app.cpuPercent, memoryUsedBytes: app.memoryUsedBytes, memoryLimitBytes: app.memoryLimitBytes ?? 0 });
    }
    return out;
  }

  private app(ref: string): AppRow {
    const app = this.apps.find((a) => a.ref === ref);
    if (!app) throw new Error(`no app ${ref}`);
    return app;
  }

  startApp = (ref: string) =>
    this.run(`app-start ${ref}`, () => Object.assign(this.app(ref), { status: 'running', desired: 'running', restarts: 0 }));
  stopApp = (ref: string) =>
    this.run(`app-stop ${ref}`, () =>
      Object.assign(this.app(ref), {
        status: 'stopped',
        desired: 'stopped',
        stopReason: 'operator',
        cpuPercent: null,
        memoryUsedBytes: null,
      }),
    );
  restartApp = (ref: string) => this.run(`app-restart ${ref}`, () => Object.assign(this.app(ref), { restarts: 0 }));
  async appLogs(ref: string, lines: number): Promise<string> {
    this.appLogReads.push(`${ref} ${lines}`);
    const text = this.appOutput.get(ref);
    if (text === undefined) throw Object.assign(new Error(`The app ${ref} has no output yet.`), { hint: 'Deploy or start it first.' });
    return text;
  }

  private vm(ref: string): VmRow {
    const vm = this.vms.find((v) => v.ref === ref);
    if (!vm) throw new Error(`no VM ${ref}`);
    return vm;
  }

  private async run(call: string, change: () => void): Promise<void> {
    this.calls.push(call);
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    change();
    this.events.unshift({ at: new Date().toISOString(), vm: call.split(' ')[1] ?? '', user: '', kind: 'stop', reason: 'operator' });
  }

  startVm = (ref: string) => this.run(`start ${ref}`, () => Object.assign(this.vm(ref), { state: 'running', desired: 'running' }));
  stopVm = (ref: string) =>
    this.run(`stop ${ref}`, () =>
      Object.assign(this.vm(ref), { state: 'exited', desired: 'stopped', stopReason: 'operator', cpuPercent: null, memoryUsedBytes: null }),
    );
  restartVm = (ref: string) => this.run(`restart ${ref}`, () => undefined);
  destroyVm = (ref: string, keepData: boolean) =>
    this.run(`destroy ${ref} keepData=${keepData}`, () => {
      this.vms = this.vms.filter((v) => v.ref !== ref);
    });
  approveUser = (login: string) => this.run(`approve ${login}`, () => this.setUser(login, { status: 'allowed' }));
  rejectUser = (login: string) => this.run(`reject ${login}`, () => this.setUser(login, { status: 'rejected' }));
  revokeUser = (login: string) => this.run(`revoke ${login}`, () => this.setUser(login, { status: 'revoked' }));
  setUserPlan = (login: string, plan: string) => this.run(`plan ${login} ${plan}`, () => this.setUser(login, { plan }));
  async maintenanceOn(onProgress?: (text: string) => void) {
    for (const step of this.progressSteps) onProgress?.(step);
    if (this.actionGate) await this.actionGate;
    await this.run('maintenance on', () => Object.assign(this.maintenance, { on: true, reason: 'from berth tui' }));
    return 'maintenance on; stopped 2 VM(s)';
  }
  async maintenanceOff(onProgress?: (text: string) => void) {
    for (const step of this.progressSteps) onProgress?.(step);
    if (this.actionGate) await this.actionGate;
    await this.run('maintenance off', () => Object.assign(this.maintenance, { on: false, reason: '' }));
    return 'maintenance off; started 2 VM(s)';
  }
  async followLogs(ref: string, _tail: number, onText: (text: string) => void) {
    this.calls.push(`logs ${ref}`);
    if (this.logsGate) await this.logsGate;
    this.logListeners.push(onText);
    onText(`first line of ${ref}\n`);
    return () => {
      this.calls.push(`logs-stop ${ref}`);
    };
  }

  private setUser(login: string, change: Partial<UserRow>) {
    const user = this.users.find((u) => u.login === login);
    if (!user) throw new Error(`no user ${login}`);
    Object.assign(user, change);
  }
}

/** A Swarm node as `berth node list` shows it, ready, its engine answering. */
export function nodeRow(hostname: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id: `id-${hostname}`,
    hostname,
    role: 'worker',
    leader: false,
    state: 'ready',
    availability: 'active',
    drained: false,
    engine: `tcp://${hostname}:2376`,
    engineState: 'ok',
    cpus: 8,
    memoryBytes: 16 * 1024 ** 3,
    memory: '16g',
    gpus: 0,
    reserved: { cpus: 1, memoryBytes: 1024 ** 3, memory: '1g', gpus: 0 },
    vms: 1,
    acceptsVms: true,
    problems: [],
    ...over,
  };
}
