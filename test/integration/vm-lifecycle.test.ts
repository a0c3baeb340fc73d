import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { berth, berthJson } from '../helpers/cli.js';
import { docker, inspect, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

let h: VmHome;
const run = (args: string[], options?: Parameters<typeof berth>[2]) => berth(h.home, args, options);
const json = <T>(args: string[]) => berthJson<T>(h.home, args);

async function newUser(plan = 'basic'): Promise<string> {
  const login = unique('u');
  const allow = await run(['user', 'allow', login, '--plan', plan]);
  expect(allow.code, allow.stderr).toBe(0);
  return login;
}

beforeAll(async () => {
  h = await vmHome();
});
afterAll(() => h.cleanup());

describe('creating VMs', () => {
  // Hardening, plan limits, labels and the home volume on every backend: test/conformance/vm-cases.ts.
  it("gives a default plan's resources, on the VM network (no traffic between VMs), restarted by the engine, logs capped", async () => {
    const login = await newUser('standard');
    const vm = VmViewSchema.parse(await json(['vm', 'create', login]));
    expect(vm).toMatchObject({ ref: `${login}/main`, state: 'running', plan: 'standard' });
    const host = (await inspect(await vmContainer(login))).HostConfig;
    expect([host.NanoCpus, host.Memory, host.PidsLimit]).toEqual([2e9, 4 * 1024 ** 3, 512]);
    // A container option on the local engine (on Swarm the node daemon's default).
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.NetworkMode).toBe(h.network);
    expect(host.RestartPolicy?.Name).toBe('unless-stopped');
    expect(host.LogConfig?.Config).toMatchObject({ 'max-size': '10m' });
    expect((await run(['vm', 'destroy', login, '--yes'])).code).toBe(0);
    const network = await docker.getNetwork(h.network).inspect();
    expect(network.Options?.['com.docker.network.bridge.enable_icc']).toBe('false');
  });

  it('gives sudo plans sudo and no no-new-privileges', async () => {
    await run(['plan', 'add', 'root-ish', '--cpu', '1', '--ram', '128m', '--sudo']);
    const login = await newUser('root-ish');
    await json(['vm', 'create', login]);
    const info = await inspect(await vmContainer(login));
    expect(info.HostConfig.SecurityOpt ?? []).toEqual([]);
    expect(info.Config.Env).toContain('BERTH_SUDO=1');
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('asks for GPUs only when config gpu is on, and then says clearly that the engine has no nvidia runtime', async () => {
    await run(['plan', 'add', 'gpu1', '--cpu', '1', '--ram', '128m', '--gpu', '1']);
    const login = await newUser('gpu1');
    const vm = VmViewSchema.parse(await json(['vm', 'create', login]));
    expect(vm.gpu).toBe(0);
    expect((await inspect(await vmContainer(login))).HostConfig.DeviceRequests ?? []).toEqual([]);
    await run(['vm', 'destroy', login, '--yes']);
    await run(['config', 'set', 'gpu', 'on']);
    try {
      const res = await run(['vm', 'create', login]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('no nvidia runtime');
      expect(res.stderr).toContain('berth config set gpu off');
    } finally {
      await run(['config', 'set', 'gpu', 'off']);
    }
  });

  it('refuses hostile names, image references and users who may not have VMs', async () => {
    const login = await newUser();
    const pending = unique('p');
    await run(['user', 'allow', pending]);
    await run(['user', 'revoke', pending]);
    for (const [args, code] of [
      [['vm', 'create', login, '--name', '../etc'], 2],
      [['vm', 'create', login, '--name', 'Robert"; rm -rf /'], 2],
      [['vm', 'create', login, '--image', 'x; rm -rf /'], 2],
      [['vm', 'create', login, '--image', 'busybox:never-built'], 1],
      [['vm', 'create', login, '--template', '../../etc'], 2],
      [['vm', 'create', "alice'; --"], 2],
      [['vm', 'create', pending], 1],
      [['vm', 'create', 'nobody-here'], 1],
      [['vm', 'show', `${login}/../../x`], 2],
    ] as const) {
      const res = await run([...args]);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(code);
      expect(res.stderr.split('\n')[0]).toMatch(/^Error: /);
    }
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`dev.berth.instance=${h.instanceId}`, `dev.berth.user=${login}`] },
    });
    expect(containers).toEqual([]);
  });

  it('refuses to make a VM from an image that is not a berth image', async () => {
    const login = await newUser();
    const res = await run(['vm', 'create', login, '--image', 'berth-base:busybox']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('not built from a berth template');
  });
});

describe('quotas, capacity and maintenance', () => {
  // A plan's max-vms, and a plan the engine cannot hold: test/conformance/vm-cases.ts.
  it('lets exactly one of two racing creates through for a plan with max-vms 1', async () => {
    const login = await newUser();
    const [a, b] = await Promise.all([run(['vm', 'create', login, '--name', 'one']), run(['vm', 'create', login, '--name', 'two'])]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    expect((a.code === 1 ? a : b).stderr).toContain('allows 1');
    const vms = z.array(VmViewSchema).parse(await json(['vm', 'list', '--all', '--user', login]));
    expect(vms).toHaveLength(1);
    const containers = await docker.listContainers({ all: true, filters: { label: [`dev.berth.user=${login}`] } });
    expect(containers).toHaveLength(1);
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('holds the host to config max-vms and to host memory × overcommit, with numbers', async () => {
    const login = await newUser();
    await run(['config', 'set', 'overcommit', '0.01']);
    try {
      const res = await run(['vm', 'create', login]);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/Not enough memory: this VM needs 1g, running VMs reserve .* of .* \(host memory × overcommit 0.01\)/);
    } finally {
      await run(['config', 'unset', 'overcommit']);
    }
    await json(['vm', 'create', login]);
    const all = z.array(VmViewSchema).parse(await json(['vm', 'list', '--all']));
    await run(['config', 'set', 'max-vms', String(all.length)]);
    try {
      const res = await run(['vm', 'create', await newUser(), '--json']);
      expect(res.code).toBe(1);
      expect(JSON.parse(res.stderr).error.code).toBe('HOST_QUOTA_EXCEEDED');
    } finally {
      await run(['config', 'unset', 'max-vms']);
      await run(['vm', 'destroy', login, '--yes']);
    }
  });

  it('blocks create and start during maintenance unless an admin forces it', async () => {
    const login = await newUser();
    await json(['vm', 'create', login]);
    await json(['vm', 'stop', login]);
    await run(['maintenance', 'on', '--reason', 'tests']);
    try {
      const other = await newUser();
      const create = await run(['vm', 'create', other]);
      expect(create.code).toBe(1);
      expect(create.stderr).toContain('maintenance');
      expect(create.stderr).toContain('--force');
      const start = await run(['vm', 'start', login]);
      expect(start.code).toBe(1);
      expect((await inspect(await vmContainer(login))).State.Running).toBe(false);
      expect(VmViewSchema.parse(await json(['vm', 'start', login, '--force'])).state).toBe('running');
    } finally {
      await run(['maintenance', 'off']);
    }
    await run(['vm', 'destroy', login, '--yes']);
  });
});

// Exec, the home across stop/start/restart/rebuild, destroy with and without the home: test/conformance/vm-cases.ts.
describe('a VM at work', () => {
  let login: string;
  beforeAll(async () => {
    login = await newUser();
    await json(['vm', 'create', login]);
  });

  it('shows stats and logs', async () => {
    const stats = JSON.parse((await run(['vm', 'stats', login, '--json'])).stdout);
    expect(stats[0]).toMatchObject({ ref: `${login}/main` });
    expect(stats[0].memoryLimitBytes).toBe(1024 ** 3);
    expect(stats[0].pids).toBeGreaterThan(0);
    const logs = await run(['vm', 'logs', login, '-n', '5']);
    expect(logs.code).toBe(0);
  });

  it('refuses to destroy without --yes when nobody can confirm', async () => {
    const res = await run(['vm', 'destroy', login]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--yes');
    expect((await inspect(await vmContainer(login))).State.Running).toBe(true);
  });
});

describe('drift between berth and the engine', () => {
  // A container removed behind berth's back, and reconcile: test/conformance/vm-cases.ts.
  it('adopts a VM whose record was lost, and removes look-alikes that are not hardened VMs', async () => {
    const login = await newUser();
    await json(['vm', 'create', login]);
    // A create interrupted after docker create: the engine has the VM, the state does not.
    const state = JSON.parse(await readFile(join(h.home, 'state.json'), 'utf8'));
    state.vms = state.vms.filter((vm: { user: string }) => vm.user !== login);
    await writeFile(join(h.home, 'state.json'), JSON.stringify(state));
    const labels = ['managed=true', `instance=${h.instanceId}`, `user=${login}`, 'vm=other', 'plan=basic'].flatMap((l) => [
      '--label',
      `dev.berth.${l}`,
    ]);
    const stray = unique('berth-stray-');
    await execa('docker', ['run', '-d', '--name', stray, ...labels, 'berth-base:busybox', 'sleep', '3600']);
    const report = JSON.parse((await run(['vm', 'reconcile', '--json'])).stdout);
    expect(report.orphans).toHaveLength(2);
    expect(report.orphans.filter((o: { adoptable: boolean }) => o.adoptable)).toHaveLength(1);
    const fixed = JSON.parse((await run(['vm', 'reconcile', '--fix', '--json'])).stdout);
    expect(fixed.actions).toHaveLength(2);
    const vms = z.array(VmViewSchema).parse(await json(['vm', 'list', '--user', login]));
    expect(vms.map((v) => v.ref)).toEqual([`${login}/main`]);
    expect((await run(['vm', 'reconcile', '--json'])).stdout).toContain('"orphans": []');
    await expect(inspect(stray)).rejects.toThrow();
    await run(['vm', 'destroy', login, '--yes']);
  });

  it('records a VM whose memory ran out', async () => {
    await run(['plan', 'add', 'small-mem', '--cpu', '0.5', '--ram', '16m']);
    const login = await newUser('small-mem');
    await json(['vm', 'create', login]);
    await run(['vm', 'exec', login, '--', 'sh', '-c', 'head -c 200m /dev/zero | tail']);
    const vm = VmViewSchema.parse(await json(['vm', 'show', login]));
    expect(vm.oomKilledAt).not.toBeNull();
    await run(['vm', 'destroy', login, '--yes']);
  });
});

describe('when the engine is away', () => {
  it('says where it looked and how to start it, without a stack trace', async () => {
    const res = await run(['image', 'list'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('No Docker engine answers at unix:///nonexistent/docker.sock');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
