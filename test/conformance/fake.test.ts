import { operator } from '../../src/domain/actor.js';
import { findVm, vmRef } from '../../src/domain/lookups.js';
import { BerthError } from '../../src/errors.js';
import { openBerth } from '../../src/services/engine/open.js';
import { doctor, reconcile } from '../../src/services/nodes/reconcile.js';
import { listHomes } from '../../src/services/vm/homes.js';
import { listVms, showVm } from '../../src/services/vm/vm-status.js';
import { createVm, destroyVm, rebuildVm, restartVm, startVm, stopVm } from '../../src/services/vm/vms.js';
import { vmView } from '../../src/views/vm-view.js';
import { BIN, tempHome } from '../helpers/cli.js';
import { type FakeBackend, fakeBackend, fakeContext } from '../helpers/fake-backend.js';
import { type TimedRun, timed, type VmHarness, type Workload } from './harness.js';
import { vmConformance } from './vm-cases.js';

/**
 * The conformance cases that make sense without an engine, on an in-memory VmBackend
 * (test/helpers/fake-backend.ts): the services are called in this process with a context whose
 * backend is the fake; what needs no engine (users, plans, config) goes through the CLI, with no
 * engine to reach. The hardening and labels checked are those of the create request the fake got.
 */
let home = '';
let cleanup: () => Promise<void> = async () => undefined;
let fake: FakeBackend;
let instance = '';
const BROKEN = 'berth-vm-broken-test:fake';
const plan = { name: 'conf', cpu: 0.5, memoryBytes: 64 * 2 ** 20, pids: 200 };

/** Flags of a VM command: `--name x` → { name: 'x' }, `--yes` → { yes: true }; the rest positional. */
function parse(args: string[]) {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) positional.push(a);
    else if (['--name', '--image', '--user'].includes(a)) flags[a.slice(2)] = args[++i] as string;
    else flags[a.slice(2)] = true;
  }
  return { flags, positional };
}

/** The VM commands the cases use, as their commands do them, on the fake's context. */
async function vmCommand(args: string[]): Promise<unknown> {
  const ctx = fakeContext(openBerth(home), fake);
  const { flags, positional } = parse(args.slice(1));
  const [what, ref = ''] = [args[0] === 'vm' ? positional.shift() : args[0], positional[0]];
  const shown = async (vm: { user: string; name: string }) => showVm(ctx, vmRef(vm));
  switch (what) {
    case 'create':
      return vmView(
        await createVm(
          ctx,
          { user: ref, name: flags.name as string | undefined, image: flags.image as string | undefined },
          operator(false),
        ),
        'running',
      );
    case 'list':
      return listVms(ctx, { user: flags.user as string | undefined, all: Boolean(flags.all) });
    case 'stop':
      return shown(await stopVm(ctx, ref));
    case 'start':
      return shown(await startVm(ctx, ref));
    case 'restart':
      return shown(await restartVm(ctx, ref));
    case 'rebuild':
      return shown(await rebuildVm(ctx, ref));
    case 'destroy': {
      const state = await ctx.store.read();
      const vm = findVm(state, ref);
      const volume = state.homes.find((x) => x.id === vm.home)?.volume ?? '?';
      await destroyVm(ctx, vmRef(vm), { keepData: Boolean(flags['keep-data']) });
      return { destroyed: vmRef(vm), home: vm.home, homeVolume: volume, homeKept: Boolean(flags['keep-data']) };
    }
    case 'reconcile':
      return reconcile(ctx, { fix: Boolean(flags.fix) });
    case 'home':
      return listHomes(ctx, {});
    case 'doctor':
      return doctor(ctx);
    default:
      throw new Error(`the fake harness has no berth ${args.join(' ')}`);
  }
}

const harness: VmHarness = {
  name: 'in-memory fake backend',
  setupTimeoutMs: 60_000,
  engines: 1,
  plan,
  unfit: { plan: 'unfit', code: 'CPU_EXCEEDS_HOST', message: /asks for 1000 CPUs, but the Docker host has \d+/ },
  brokenImage: BROKEN,
  runsProcesses: false,
  freezes: false,
  instanceId: () => instance,
  berth: async (args, options = {}): Promise<TimedRun> => {
    if (!['vm', 'home', 'doctor'].includes(args[0] as string)) {
      // No engine for the CLI to reach: what it does here needs none.
      return timed('node', [BIN, ...args], {
        env: { BERTH_HOME: home, NO_COLOR: '1', DOCKER_HOST: 'unix:///nonexistent/engine.sock' },
        input: options.input,
        timeoutMs: options.timeoutMs,
      });
    }
    const started = Date.now();
    try {
      const out = await vmCommand(args);
      return { code: 0, stdout: JSON.stringify(out, null, 2), stderr: '', ms: Date.now() - started, timedOut: false };
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      const error = { code: err.code, message: err.message, hint: err.hint };
      return { code: 1, stdout: '', stderr: JSON.stringify({ error }), ms: Date.now() - started, timedOut: false };
    }
  },
  setup: async () => {
    ({ home, cleanup } = await tempHome());
    fake = fakeBackend();
    fake.failingImages.add(BROKEN);
    for (const args of [
      ['init'],
      ['plan', 'add', plan.name, '--cpu', String(plan.cpu), '--ram', '64m', '--pids', String(plan.pids), '--disk', '0', '--rootfs', '0'],
      ['plan', 'add', 'unfit', '--cpu', '1000', '--ram', '64m', '--disk', '0', '--rootfs', '0'],
    ]) {
      const r = await harness.berth(args);
      if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    }
    instance = (await openBerth(home).store.read()).instanceId;
  },
  teardown: () => cleanup(),
  workload: async (login) => {
    const w = [...fake.workloads.values()].find((x) => x.spec.Labels?.['dev.berth.user'] === login);
    if (!w) return null;
    const mounts: Workload['mounts'] = (w.spec.HostConfig?.Mounts ?? []).map((m) => ({
      Type: m.Type,
      Name: m.Source,
      Destination: String(m.Target),
    }));
    return { id: w.id, running: w.running, hostConfig: w.spec.HostConfig ?? {}, labels: w.spec.Labels ?? {}, mounts };
  },
  homeVolume: async (login) => {
    const found = [...fake.volumes].find(([, labels]) => labels['dev.berth.user'] === login);
    return found ? { name: found[0], labels: found[1] } : null;
  },
  leftovers: async (login) => [
    ...[...fake.workloads.values()].filter((w) => w.spec.Labels?.['dev.berth.user'] === login).map((w) => `workload ${w.id}`),
    ...[...fake.volumes].filter(([, l]) => l['dev.berth.user'] === login).map(([name]) => `volume ${name}`),
  ],
  removeWorkload: async (login) => {
    const w = [...fake.workloads.values()].find((x) => x.spec.Labels?.['dev.berth.user'] === login);
    if (!w) throw new Error(`${login} has no workload`);
    fake.workloads.delete(w.id);
  },
  freeze: async () => {
    throw new Error('the fake backend has no engine to freeze');
  },
};

vmConformance(harness);
