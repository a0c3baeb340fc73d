import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instanceFilter, LABEL } from '../../src/docker/labels.js';
import { liveStats } from '../../src/docker/live-stats.js';
import { DockerRuntime } from '../../src/docker/runtime.js';
import type { Berth } from '../../src/services/core/context.js';
import { localBackend } from '../../src/services/engine/local-backend.js';
import { enterMaintenance, leaveMaintenance } from '../../src/services/nodes/maintenance.js';
import { allowUser } from '../../src/services/people/users.js';
import { initHome } from '../../src/services/setup/init.js';
import { ENGINE_STEP, stopVms } from '../../src/services/vm/vm-bulk.js';
import { vmStats } from '../../src/services/vm/vm-exec.js';
import { listVms } from '../../src/services/vm/vm-status.js';
import { StateStore } from '../../src/state/store.js';
import { tempHome } from '../helpers/cli.js';

/**
 * A fake engine (a dockerode look-alike) that counts the calls berth makes: how many container
 * lists, inspects and stats calls a pass over many VMs costs, and how many starts and stops are
 * in flight at once.
 */
class FakeEngine {
  calls = { list: 0, inspect: 0, stats: 0, start: 0, stop: 0 };
  inFlight = 0;
  mostInFlight = 0;
  /** Containers whose start or stop fails. */
  failing = new Set<string>();
  /** Containers whose start or stop never ends (a wedged engine). */
  hanging = new Set<string>();
  containers = new Map<string, { labels: Record<string, string>; running: boolean; exitCode: number | null }>();

  private async act(id: string, running: boolean) {
    if (this.hanging.has(id)) return new Promise<never>(() => undefined);
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    // Long enough for every start or stop asked for at once to be in flight together.
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.inFlight--;
    if (this.failing.has(id)) throw Object.assign(new Error('engine says no'), { statusCode: 500 });
    const c = this.containers.get(id);
    if (!c) throw Object.assign(new Error('No such container'), { statusCode: 404 });
    Object.assign(c, { running, exitCode: running ? null : 0 });
  }

  dockerode(): Docker {
    return {
      listContainers: async (options: { filters?: { label?: string[] } }) => {
        this.calls.list++;
        const wanted = options.filters?.label ?? [];
        return [...this.containers]
          .filter(([, c]) => wanted.every((l) => c.labels[l.split('=')[0] as string] === l.split('=').slice(1).join('=')))
          .map(([id, c]) => ({
            Id: id,
            Names: [`/berth-${id}`],
            Labels: c.labels,
            State: c.running ? 'running' : 'exited',
            Status: c.running ? 'Up 2 hours' : `Exited (${c.exitCode}) 5 minutes ago`,
            Image: 'berth-vm-minimal:latest',
          }));
      },
      getContainer: (id: string) => ({
        inspect: async () => {
          this.calls.inspect++;
          const c = this.containers.get(id);
          if (!c) throw Object.assign(new Error('No such container'), { statusCode: 404 });
          return {
            Id: id,
            Name: `/berth-${id}`,
            Config: { Labels: c.labels, Image: 'berth-vm-minimal:latest' },
            State: {
              Status: c.running ? 'running' : 'exited',
              Running: c.running,
              ExitCode: c.exitCode ?? 0,
              OOMKilled: false,
              StartedAt: '2026-01-01T00:00:00Z',
              FinishedAt: c.running ? '0001-01-01T00:00:00Z' : '2026-01-01T01:00:00Z',
            },
            ExecIDs: null,
            HostConfig: {},
          };
        },
        stats: async () => {
          this.calls.stats++;
          return {
            cpu_stats: { cpu_usage: { total_usage: 2e9 }, system_cpu_usage: 100e9, online_cpus: 2 },
            precpu_stats: { cpu_usage: { total_usage: 1e9 }, system_cpu_usage: 90e9 },
            memory_stats: { usage: 20 * 1024 ** 2, limit: 64 * 1024 ** 2, stats: { inactive_file: 4 * 1024 ** 2 } },
            pids_stats: { current: 3 },
            networks: { eth0: { rx_bytes: 100, tx_bytes: 50 } },
          };
        },
        start: async () => {
          this.calls.start++;
          await this.act(id, true);
        },
        stop: async () => {
          this.calls.stop++;
          await this.act(id, false);
        },
      }),
      getEvents: async () => {
        const stream = new PassThrough();
        stream.end();
        return stream;
      },
      info: async () => ({ MemTotal: 64 * 1024 ** 3, NCPU: 8, Runtimes: {}, Name: 'fake', Driver: 'overlay2', DriverStatus: [] }),
      version: async () => ({ Version: '27.0.0', ApiVersion: '1.46' }),
    } as unknown as Docker;
  }
}

let home: string;
let cleanup: () => Promise<void>;
let engine: FakeEngine;
let ctx: Berth;
const N = 12;

/** N VMs of N users; the engine runs all but the last two, whose exits berth has recorded. */
async function seed(): Promise<void> {
  const store = new StateStore(home);
  await initHome(store);
  for (let i = 0; i < N; i++) await allowUser(store, `u${i}`);
  const state = await store.transact((s) => {
    for (const [i, user] of s.users.entries()) {
      const id = `${String(i).padStart(2, '0')}aaaaaaaaaa`;
      s.homes.push({
        id,
        owner: user.id,
        login: user.login,
        vm: 'main',
        volume: `berth-home-${id}`,
        diskBytes: null,
        createdAt: '2026-01-01T00:00:00Z',
      });
      const stopped = i >= N - 2;
      s.vms.push({
        id: `${String(i).padStart(2, '0')}bbbbbbbbbb`,
        user: user.login,
        name: 'main',
        plan: 'basic',
        image: 'berth-vm-minimal:latest',
        home: id,
        phase: 'ready',
        containerId: `container${i}`,
        desired: stopped ? 'stopped' : 'running',
        ...(stopped ? { lastExitCode: 0, stopReason: 'operator' as const } : {}),
        resources: { cpu: 0.5, memoryBytes: 64 * 1024 ** 2, pids: 100, gpu: 0, sudo: false },
        createdAt: '2026-01-01T00:00:00Z',
        lastStartedAt: '2026-01-01T00:00:00Z',
      });
    }
    return s;
  });
  for (const vm of state.vms) {
    engine.containers.set(vm.containerId as string, {
      labels: Object.fromEntries(
        [...instanceFilter(state.instanceId), `${LABEL.user}=${vm.user}`, `${LABEL.vm}=${vm.name}`].map((l) => l.split('=')),
      ),
      running: vm.desired === 'running',
      exitCode: vm.desired === 'running' ? null : 0,
    });
  }
}

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  engine = new FakeEngine();
  const runtime = DockerRuntime.wrap(engine.dockerode(), 'unix:///fake/docker.sock');
  const made: Berth = {
    store: new StateStore(home),
    runtime: async () => runtime,
    backend: async () => localBackend(made),
    notifier: { send: async () => undefined },
  };
  ctx = made;
  await seed();
});
afterEach(() => cleanup());

describe('a pass over many VMs asks the engine once', () => {
  it('vm list: one container list for all the VMs, no inspect', async () => {
    const views = await listVms(ctx, { all: true });
    expect(views).toHaveLength(N);
    expect(views.filter((v) => v.state === 'running')).toHaveLength(N - 2);
    expect(engine.calls).toMatchObject({ list: 1, inspect: 0 });
  });

  it('vm list inspects only a VM whose exit berth has not recorded yet, and records it', async () => {
    Object.assign(engine.containers.get('container0') ?? {}, { running: false, exitCode: 3 });
    const views = await listVms(ctx, { all: true });
    expect(engine.calls).toMatchObject({ list: 1, inspect: 1 });
    expect(views.find((v) => v.ref === 'u0/main')).toMatchObject({ state: 'exited', lastExitCode: 3 });
    engine.calls.inspect = 0;
    await listVms(ctx, { all: true });
    expect(engine.calls.inspect).toBe(0);
  });

  it('vm stats: one container list; the numbers of the running VMs only, never an inspect', async () => {
    // The fake containers have no cgroup files here: the numbers come from the engine, one call per running VM.
    const stats = await vmStats(ctx);
    expect(stats.map((s) => s.ref).sort()).toEqual(Array.from({ length: N - 2 }, (_, i) => `u${i}/main`).sort());
    expect(stats[0]).toMatchObject({ memoryUsedBytes: 16 * 1024 ** 2, memoryLimitBytes: 64 * 1024 ** 2, pids: 3, netRxBytes: 100 });
    expect(engine.calls).toMatchObject({ list: 1, inspect: 0, stats: N - 2 });
  });
});

describe('bulk actions', () => {
  it('maintenance on/off stop and start every VM, bulk.concurrency at a time; one failing is told and the others go on', async () => {
    await ctx.store.transact((s) => {
      s.config['bulk.concurrency'] = 3;
    });
    engine.failing.add('container4');
    const on = await enterMaintenance(ctx, { reason: 'test' });
    expect(on.changed).toHaveLength(N - 3);
    expect(on.failed).toEqual([expect.objectContaining({ vm: 'u4/main', error: expect.stringContaining('engine says no') })]);
    expect(engine.mostInFlight).toBe(3);
    engine.failing.clear();
    engine.mostInFlight = 0;
    engine.containers.delete('container5');
    const steps: number[] = [];
    const off = await leaveMaintenance(ctx, { onProgress: (s) => steps.push(s.done) });
    expect(off.failed).toEqual([expect.objectContaining({ vm: 'u5/main', code: 'VM_CONTAINER_MISSING' })]);
    expect(off.changed).toHaveLength(N - 4);
    expect(engine.mostInFlight).toBe(3);
    expect(steps.at(-1)).toBe(N - 3);
    // No inspect and no list: one start call per VM, the engine's "no such container" the check.
    expect(engine.calls).toMatchObject({ list: 0, inspect: 0 });
    const state = await ctx.store.read();
    expect(
      state.vms
        .filter((vm) => vm.desired === 'running')
        .map((vm) => vm.user)
        .sort(),
    ).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u6', 'u7', 'u8', 'u9'].sort());
  });

  it('a VM whose stop never ends fails after its deadline; the others are stopped', async () => {
    const usual = ENGINE_STEP.stop.ms;
    ENGINE_STEP.stop.ms = 300;
    try {
      engine.hanging.add('container2');
      const on = await enterMaintenance(ctx);
      expect(on.failed).toEqual([
        expect.objectContaining({ vm: 'u2/main', code: 'ENGINE_TIMEOUT', error: expect.stringContaining('stop VM u2/main') }),
      ]);
      expect(on.changed).toHaveLength(N - 3);
      // Its record says it should run, as it still does.
      expect((await ctx.store.read()).vms.find((vm) => vm.user === 'u2')).toMatchObject({ desired: 'running' });
    } finally {
      ENGINE_STEP.stop.ms = usual;
    }
  });
});

describe('bulk stops that fail', () => {
  it('put back what the stop intended: the VM should run, with no stop reason', async () => {
    const usual = ENGINE_STEP.stop.ms;
    ENGINE_STEP.stop.ms = 300;
    try {
      engine.hanging.add('container3');
      const result = await stopVms(ctx, [
        { ref: 'u3/main', reason: 'idle' },
        { ref: 'u1/main', reason: 'idle' },
      ]);
      expect(result.failed).toEqual([expect.objectContaining({ vm: 'u3/main', code: 'ENGINE_TIMEOUT' })]);
      const vms = (await ctx.store.read()).vms;
      const failed = vms.find((vm) => vm.user === 'u3');
      expect(failed?.desired).toBe('running');
      expect(failed?.stopReason).toBeUndefined();
      expect(vms.find((vm) => vm.user === 'u1')).toMatchObject({ desired: 'stopped', stopReason: 'idle' });
    } finally {
      ENGINE_STEP.stop.ms = usual;
    }
  });
});

describe('live numbers from the cgroup files', () => {
  it('reads CPU (between two readings), memory without the page cache, processes (a whole sample); cgroup v1 and v2', async () => {
    const root = join(home, 'cgroup');
    const v1 = 'a'.repeat(64);
    const v2 = 'b'.repeat(64);
    const put = async (dir: string, files: Record<string, string>) => {
      await mkdir(join(root, dir), { recursive: true });
      for (const [name, body] of Object.entries(files)) await writeFile(join(root, dir, name), body);
    };
    await put(`cpuacct/docker/${v1}`, { 'cpuacct.usage': '1000000000\n' });
    await put(`memory/docker/${v1}`, {
      'memory.usage_in_bytes': String(30 * 1024 ** 2),
      'memory.limit_in_bytes': String(64 * 1024 ** 2),
      'memory.stat': `cache 123\ninactive_file 1\ntotal_inactive_file ${10 * 1024 ** 2}\n`,
    });
    await put(`pids/docker/${v1}`, { 'pids.current': '4\n', 'cgroup.procs': '' });
    const runtime = DockerRuntime.wrap(engine.dockerode(), 'unix:///fake/docker.sock');
    const source = liveStats(runtime, { cgroupRoot: root, procRoot: join(home, 'proc') });
    const first = await source.read([v1]);
    expect(source.kind).toBe('cgroup');
    expect(first.get(v1)).toMatchObject({ cpuPercent: null, memoryUsedBytes: 20 * 1024 ** 2, memoryLimitBytes: 64 * 1024 ** 2 });
    await writeFile(join(root, `cpuacct/docker/${v1}/cpuacct.usage`), '1050000000\n');
    const second = await source.read([v1]);
    expect(second.get(v1)?.cpuPercent).toBeGreaterThan(0);
    // A whole sample (vm stats) has the processes too.
    const full = await source.sample([v1], 1);
    expect(full.get(v1)).toMatchObject({
      status: 'fulfilled',
      value: expect.objectContaining({ pids: 4, memoryUsedBytes: 20 * 1024 ** 2 }),
    });
    // A container that stopped (its files gone) is left out, not an error.
    expect((await source.read(['c'.repeat(64)])).size).toBe(0);
    expect(engine.calls.stats).toBe(0);

    const root2 = join(home, 'cgroup2');
    await mkdir(join(root2, 'system.slice', `docker-${v2}.scope`), { recursive: true });
    const dir = join(root2, 'system.slice', `docker-${v2}.scope`);
    await writeFile(join(dir, 'cpu.stat'), 'usage_usec 5000\nuser_usec 3000\n');
    await writeFile(join(dir, 'memory.current'), String(12 * 1024 ** 2));
    await writeFile(join(dir, 'memory.max'), 'max\n');
    await writeFile(join(dir, 'memory.stat'), `anon 1\ninactive_file ${2 * 1024 ** 2}\n`);
    await writeFile(join(dir, 'pids.current'), '2\n');
    const v2source = liveStats(runtime, { cgroupRoot: root2 });
    expect((await v2source.read([v2])).get(v2)).toMatchObject({ memoryUsedBytes: 10 * 1024 ** 2, memoryLimitBytes: 0 });
  });

  it('falls back to the engine where the files are not on this machine, streaming only a bounded number of containers', async () => {
    const runtime = DockerRuntime.wrap(engine.dockerode(), 'unix:///fake/docker.sock');
    const source = liveStats(runtime, { cgroupRoot: join(home, 'none') });
    expect(await source.which(['container0'])).toBe('engine');
    const sampled = await source.sample(['container0', 'container1'], 2);
    expect([...sampled.values()].every((r) => r.status === 'fulfilled')).toBe(true);
    expect(engine.calls.stats).toBe(2);
    source.close();
  });
});
