import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VM_CAPABILITIES } from '../../src/docker/hardening.js';
import type { VmView } from '../../src/views/vm-view.js';
import { waitFor } from '../helpers/daemon.js';
import { unique } from '../helpers/docker.js';
import { errorCode, parseVms, type TimedRun, type VmHarness } from './harness.js';

/** How long a command against a frozen engine may take before it counts as hung (node calls have a 5 s deadline). */
const FROZEN_BOUND_MS = 30_000;

/**
 * What every backend of berth's VMs must do, the same cases for each (test/conformance/*.test.ts
 * give the harness): hardened creates with their labels and limits, the home kept across every
 * change of state, destroy with and without the home, exec's exit codes and streams, drift found
 * and mended, failed deploys and refusals that leave nothing behind, and an engine that freezes.
 */
export function vmConformance(h: VmHarness): void {
  const run = (args: string[], options?: { input?: string; timeoutMs?: number }) => h.berth(args, options);
  const ok = async (args: string[], options?: { input?: string }): Promise<string> => {
    const r = await run(args, options);
    expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(await ok([...args, '--json'])) as T;
  const vm = async (args: string[]): Promise<VmView> => (await json<VmView>(args)) as VmView;
  const listed = async (login?: string) => parseVms(await ok(['vm', 'list', '--all', '--json', ...(login ? ['--user', login] : [])]));
  const newUser = async (plan = h.plan.name) => {
    const login = unique('cf');
    await ok(['user', 'allow', login, '--plan', plan]);
    return login;
  };
  /** The user's VM, ready: exec works in it (its entrypoint made the user). */
  const newVm = async (plan?: string) => {
    const login = await newUser(plan);
    const made = await vm(['vm', 'create', login]);
    expect(made).toMatchObject({ ref: `${login}/main`, state: 'running', desired: 'running' });
    if (h.runsProcesses) {
      await waitFor(
        `${login}'s VM to be ready`,
        async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
        30_000,
      );
    }
    return login;
  };
  const cat = async (login: string, file = 'note.txt') => (await ok(['vm', 'exec', login, '--', 'cat', file])).trim();
  const notRunning = async (login: string) => {
    const w = await h.workload(login);
    return w === null || !w.running;
  };
  /** A command against a frozen engine: it exits by itself within the bound, and fails with the engine's code. */
  const refusedInTime = (r: TimedRun, what: string) => {
    console.log(`${h.name}: ${what} with its engine frozen: exit ${r.code} after ${r.ms} ms${r.timedOut ? ' (killed: it hung)' : ''}`);
    // Soft: each of list, exec and stop is told, not only the first that hangs.
    expect.soft(r.timedOut, `${what} did not exit within ${FROZEN_BOUND_MS / 1000} s: ${r.stderr}`).toBe(false);
    expect.soft(r.code, `${what}: ${r.stdout}${r.stderr}`).not.toBe(0);
    expect.soft(['ENGINE_TIMEOUT', 'NODE_DOWN'], `${what}: ${r.stderr}`).toContain(errorCode(r));
  };

  beforeAll(() => h.setup(), h.setupTimeoutMs);
  afterAll(() => h.teardown(), 180_000);
  // Each case starts with no VM: what one leaves (a failure half-way) is destroyed, home and all.
  afterEach(async () => {
    const left = await run(['vm', 'list', '--all', '--json']);
    if (left.code !== 0) return;
    for (const v of parseVms(left.stdout)) await run(['vm', 'destroy', v.ref, '--yes']);
  }, 180_000);

  describe(`VM conformance: ${h.name}`, () => {
    it("creates VMs hardened, with their plan's limits, berth's labels and a home volume", async () => {
      const logins: string[] = [];
      for (let i = 0; i < h.engines; i++) logins.push(await newVm());
      const vms = await listed();
      // The plan is sized so that each engine takes one.
      expect(new Set(vms.map((v) => v.node)).size).toBe(h.engines);
      for (const login of logins) {
        const w = await h.workload(login);
        if (!w) throw new Error(`${login}'s VM has no workload`);
        expect(w.running).toBe(true);
        const host = w.hostConfig;
        expect(host.Privileged ?? false).toBe(false);
        expect(host.CapDrop).toEqual(['ALL']);
        expect([...(host.CapAdd ?? [])].sort()).toEqual([...VM_CAPABILITIES].sort());
        expect(host.NanoCpus).toBe(h.plan.cpu * 1e9);
        expect(host.Memory).toBe(h.plan.memoryBytes);
        // No swap beyond the memory: memory+swap as much as the memory, or (Swarm cannot set it) a node without swap.
        const swapAsMemory = host.MemorySwap === h.plan.memoryBytes;
        expect(host.PidsLimit).toBe(h.plan.pids);
        expect(host.Binds ?? []).toEqual([]);
        expect(w.labels).toMatchObject({
          'dev.berth.managed': 'true',
          'dev.berth.user': login,
          'dev.berth.vm': 'main',
          'dev.berth.plan': h.plan.name,
          'dev.berth.instance': h.instanceId(),
        });
        const volume = await h.homeVolume(login);
        expect(volume?.labels).toMatchObject({ 'dev.berth.user': login, 'dev.berth.instance': h.instanceId() });
        expect(w.mounts).toEqual([expect.objectContaining({ Type: 'volume', Name: volume?.name, Destination: `/home/${login}` })]);
        expect(w.mounts.some((m) => m.Source?.includes('docker.sock'))).toBe(false);
        if (!swapAsMemory) {
          expect(h.runsProcesses, `memory+swap ${host.MemorySwap}, not ${h.plan.memoryBytes}`).toBe(true);
          expect(await ok(['vm', 'exec', login, '--', 'grep', 'SwapTotal', '/proc/meminfo'])).toMatch(/SwapTotal:\s+0 kB/);
        }
        if (h.runsProcesses) {
          // What the process has, however the engine got it (a container option, or the node daemon's default).
          const status = await ok([
            'vm',
            'exec',
            login,
            '--',
            'sh',
            '-c',
            'id -u; grep -E "^(NoNewPrivs|Seccomp|CapBnd):" /proc/self/status',
          ]);
          expect(status).toMatch(/^1000$/m);
          expect(status).toMatch(/NoNewPrivs:\s*1/);
          expect(status).toMatch(/Seccomp:\s*2/);
          // No NET_RAW (13), MKNOD (27), SYS_ADMIN (21) in the bounding set.
          const bounding = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(status)?.[1] ?? '0'}`);
          for (const bit of [13n, 21n, 27n]) expect((bounding >> bit) & 1n, `capability ${bit}`).toBe(0n);
        } else {
          expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
        }
      }
    }, 240_000);

    it('keeps the home across stop, start, restart and rebuild', async () => {
      const login = await newVm();
      if (h.runsProcesses) await ok(['vm', 'exec', login, '--', 'sh', '-c', 'echo kept > note.txt']);
      const volume = (await h.homeVolume(login))?.name;
      expect(volume).toBeTruthy();
      expect((await vm(['vm', 'stop', login])).state).toBe('exited');
      expect(await notRunning(login)).toBe(true);
      expect((await listed(login))[0]).toMatchObject({ desired: 'stopped', state: 'exited' });
      expect((await vm(['vm', 'start', login])).state).toBe('running');
      if (h.runsProcesses) expect(await cat(login)).toBe('kept');
      const beforeRestart = (await h.workload(login))?.id;
      expect((await vm(['vm', 'restart', login])).state).toBe('running');
      expect((await h.workload(login))?.running).toBe(true);
      if (h.runsProcesses) {
        // The process was restarted: the entrypoint ran again (a new /run), the home did not change.
        expect(await cat(login)).toBe('kept');
      }
      expect(beforeRestart).toBeTruthy();
      const beforeRebuild = (await h.workload(login))?.id;
      expect((await vm(['vm', 'rebuild', login])).state).toBe('running');
      expect((await h.workload(login))?.id).not.toBe(beforeRebuild);
      expect((await h.homeVolume(login))?.name).toBe(volume);
      if (h.runsProcesses) expect(await cat(login)).toBe('kept');
    }, 240_000);

    it('destroys a VM with its home, or keeps the home for the next VM of that name', async () => {
      const login = await newVm();
      if (h.runsProcesses) await ok(['vm', 'exec', login, '--', 'sh', '-c', 'echo again > note.txt']);
      const kept = await json<{ homeKept: boolean; homeVolume: string }>(['vm', 'destroy', login, '--yes', '--keep-data']);
      expect(kept.homeKept).toBe(true);
      expect(await h.workload(login)).toBeNull();
      expect(await listed(login)).toEqual([]);
      expect((await h.homeVolume(login))?.name).toBe(kept.homeVolume);
      await vm(['vm', 'create', login]);
      expect((await h.homeVolume(login))?.name).toBe(kept.homeVolume);
      if (h.runsProcesses) {
        await waitFor(
          'the VM to be ready',
          async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
          30_000,
        );
        expect(await cat(login)).toBe('again');
      }
      await ok(['vm', 'destroy', login, '--yes']);
      expect(await h.leftovers(login)).toEqual([]);
      expect(await listed(login)).toEqual([]);
      const homes = await json<Array<{ login: string }>>(['home', 'list']);
      expect(homes.filter((x) => x.login === login)).toEqual([]);
    }, 240_000);

    // Declared only where VMs run processes (no skipped cases elsewhere).
    if (h.runsProcesses)
      it("runs commands as the VM's user in its home, never through a shell, with exit codes, signals and separate streams", async () => {
        const login = await newVm();
        const exited = await run(['vm', 'exec', login, '--', 'sh', '-c', 'id -u; pwd; echo to-err >&2; exit 7']);
        expect(exited.code).toBe(7);
        expect(exited.stdout).toBe(`1000\n/home/${login}`);
        expect(exited.stderr).toBe('to-err');
        // Killed by a signal: 128 + its number, as docker says.
        expect((await run(['vm', 'exec', login, '--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
        expect((await run(['vm', 'exec', login, '--', 'sh', '-c', 'kill -KILL $$'])).code).toBe(137);
        const literal = await run(['vm', 'exec', login, '--', 'echo', '$(id)', '`id`', ';', 'rm', '-rf', '/']);
        expect(literal.stdout).toBe('$(id) `id` ; rm -rf /');
        const stdin = await run(['vm', 'exec', login, '-i', '--', 'wc', '-c'], { input: 'x'.repeat(100_000) });
        expect(stdin.stdout.trim()).toBe('100000');
        expect((await run(['vm', 'exec', login, '--', 'no-such-command'])).code).not.toBe(0);
        const asJson = JSON.parse((await run(['vm', 'exec', login, '--json', '--', 'sh', '-c', 'echo o; echo e >&2; exit 2'])).stdout);
        expect(asJson).toEqual({ exitCode: 2, stdout: 'o\n', stderr: 'e\n' });
      }, 120_000);

    it('shows a workload removed behind its back as missing; reconcile recreates it on the kept home', async () => {
      const login = await newVm();
      if (h.runsProcesses) await ok(['vm', 'exec', login, '--', 'sh', '-c', 'echo survived > note.txt']);
      const volume = (await h.homeVolume(login))?.name;
      await h.removeWorkload(login);
      expect((await listed(login))[0]?.state).toBe('missing');
      const doctor = await run(['doctor', '--json']);
      // Soft: reconcile is still tried when doctor does not see it.
      expect.soft(JSON.parse(doctor.stdout).drift.missing, 'doctor --json drift.missing').toContain(`${login}/main`);
      const found = await json<{ missing: string[] }>(['vm', 'reconcile']);
      expect(found.missing).toEqual([`${login}/main`]);
      const fixed = await json<{ actions: string[]; failed: unknown[] }>(['vm', 'reconcile', '--fix']);
      expect(fixed.failed).toEqual([]);
      expect(fixed.actions.join('\n')).toContain(`recreated the container of ${login}/main`);
      expect((await listed(login))[0]?.state).toBe('running');
      expect((await h.workload(login))?.running).toBe(true);
      expect((await h.homeVolume(login))?.name).toBe(volume);
      if (h.runsProcesses) expect(await cat(login)).toBe('survived');
      expect((await json<{ missing: string[] }>(['vm', 'reconcile'])).missing).toEqual([]);
    }, 240_000);

    it('a deploy that fails (an image that cannot start) leaves no container, service, volume or record', async () => {
      const login = await newUser();
      const r = await run(['vm', 'create', login, '--image', h.brokenImage, '--json']);
      expect(r.code, r.stdout).toBe(1);
      console.log(`${h.name}: a create that cannot start: ${errorCode(r)} after ${r.ms} ms`);
      // A few seconds' grace for what the engine removes on its own once told (a Swarm task's containers).
      await waitFor('nothing left of the failed create', async () => (await h.leftovers(login)).length === 0, 15_000).catch(
        () => undefined,
      );
      expect(await h.leftovers(login)).toEqual([]);
      expect(await listed(login)).toEqual([]);
      const homes = await json<Array<{ login: string }>>(['home', 'list']);
      expect(homes.filter((x) => x.login === login)).toEqual([]);
      // Nothing half-made stands in the way of the next create.
      expect((await vm(['vm', 'create', login])).state).toBe('running');
    }, 240_000);

    it("refuses, with its code, a VM over its plan's max-vms and a plan no engine can hold, leaving nothing", async () => {
      const login = await newVm();
      const second = await run(['vm', 'create', login, '--name', 'second', '--json']);
      expect(second.code).toBe(1);
      expect(errorCode(second), second.stderr).toBe('QUOTA_EXCEEDED');
      expect((await listed(login)).map((v) => v.ref)).toEqual([`${login}/main`]);
      expect(await h.workload(login)).not.toBeNull();

      const big = await newUser(h.unfit.plan);
      const refused = await run(['vm', 'create', big, '--json']);
      expect(refused.code).toBe(1);
      expect(errorCode(refused), refused.stderr).toBe(h.unfit.code);
      expect(refused.stderr).toMatch(h.unfit.message);
      expect(await h.leftovers(big)).toEqual([]);
      expect(await listed(big)).toEqual([]);
    }, 240_000);

    // Declared only where an engine can freeze.
    if (h.freezes)
      it('an engine that stops answering (frozen): list, stop and exec of its VM end within the bound with its code; VMs elsewhere keep working', async () => {
        const logins: string[] = [];
        for (let i = 0; i < h.engines; i++) logins.push(await newVm());
        // On a Swarm the harness picks a VM on a worker (the manager's engine answers for the whole cluster).
        const { login: target, thaw } = await h.freeze(logins);
        const others = logins.filter((l) => l !== target);
        try {
          const list = await run(['vm', 'list', '--all', '--json'], { timeoutMs: FROZEN_BOUND_MS });
          console.log(`${h.name}: vm list with an engine frozen: exit ${list.code} after ${list.ms} ms${list.timedOut ? ' (killed)' : ''}`);
          expect
            .soft(list.timedOut, `vm list did not exit within ${FROZEN_BOUND_MS / 1000} s (stdout: ${list.stdout.slice(0, 300)})`)
            .toBe(false);
          // One that hung is told above; exec and stop are still tried.
          if (!list.timedOut && list.code === 0) {
            const shown = parseVms(list.stdout);
            expect(shown.find((v) => v.user === target)?.state).toBe('node-down');
            for (const o of others) expect(shown.find((v) => v.user === o)?.state).toBe('running');
          } else if (!list.timedOut) {
            expect(['ENGINE_TIMEOUT', 'NODE_DOWN'], list.stderr).toContain(errorCode(list));
          }
          refusedInTime(await run(['vm', 'exec', target, '--json', '--', 'true'], { timeoutMs: FROZEN_BOUND_MS }), 'vm exec');
          refusedInTime(await run(['vm', 'stop', target, '--json'], { timeoutMs: FROZEN_BOUND_MS }), 'vm stop');
          for (const o of others) expect(await ok(['vm', 'exec', o, '--', 'echo', `served-${o}`])).toContain(`served-${o}`);
        } finally {
          await thaw();
        }
        // Thawed, its VM answers again.
        await waitFor(
          `${target}'s VM answering after the thaw`,
          async () => (await run(['vm', 'exec', target, '--', 'true'], { timeoutMs: 30_000 })).code === 0,
          60_000,
        );
      }, 300_000);
  });
}
