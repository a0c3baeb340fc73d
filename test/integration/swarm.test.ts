import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { execa } from 'execa';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notice } from '../../src/services/core/notify.js';
import { openBerth } from '../../src/services/engine/open.js';
import { vmLiveStats } from '../../src/services/vm/vm-live-stats.js';
import { enforcePolicies } from '../../src/services/vm/vm-policies.js';
import { NodeViewSchema } from '../../src/views/node-view.js';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { BIN, berth, freePort } from '../helpers/cli.js';
import { daemonLog, state, waitFor } from '../helpers/daemon.js';
import { MINIMAL_IMAGE, unique } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import { dockerdPid, type NetnsEngine, type NsRun } from '../helpers/netns-engine.js';
import { sshClientOptions } from '../helpers/ssh.js';
import { swarmBerth } from '../helpers/swarm-berth.js';
import { type SwarmCluster, startSwarm } from '../helpers/swarm-cluster.js';
import { pane, tmux } from '../helpers/terminal.js';

/**
 * berth on a real three-node Docker Swarm (test/helpers/swarm-cluster.ts): each node a dockerd
 * in a network namespace of its own, berth on the manager (node 1) with `config engine swarm`.
 * Every VM's plan reserves 60% of a node's memory, so a node holds one VM at a time and where
 * each VM can go is decided by reserved memory alone.
 */
let cluster: SwarmCluster;
let dir: string;
let home: string;
const users = [unique('sw1'), unique('sw2'), unique('sw3'), unique('sw4')];
const nodeOf = new Map<string, string>();

const { b, ok, json, vms, errorOf, init } = swarmBerth(
  () => cluster,
  () => home,
);
/** The daemon's /metrics, through its control socket (a file: reachable from outside the manager's namespace). */
const getMetrics = (): Promise<string> =>
  new Promise((resolve, reject) => {
    request({ socketPath: join(home, 'berth.sock'), path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
const engineOf = (nodeId: string): NetnsEngine => cluster.nodes[cluster.ids.indexOf(nodeId)] as NetnsEngine;
const errorCode = (r: NsRun) => errorOf(r).code;

/** An SSH command through the gateway (in the manager's namespace) with the test's key. */
const sshTo = (login: string, command: string) =>
  cluster.manager.exec('ssh', [...sshClientOptions(2222, join(dir, 'key')), `${login}@127.0.0.1`, command]);
const onNode = (i: number) => [...nodeOf].find(([, n]) => n === cluster.ids[i])?.[0] as string;

async function containerOf(login: string) {
  const engine = engineOf(nodeOf.get(login) as string);
  const [c] = await engine.docker.listContainers({ filters: { label: [`dev.berth.user=${login}`] } });
  if (!c) throw new Error(`no running container of ${login} on its node`);
  return engine.docker.getContainer(c.Id).inspect();
}

beforeAll(async () => {
  // berth-base:busybox: backups' image is made on it on the manager's engine.
  cluster = await startSwarm({ images: [MINIMAL_IMAGE, 'berth-base:busybox'] });
  console.log(
    `swarm of 3 up in ${cluster.bringUpMs} ms; dockerd+containerd RSS ${Math.round((await cluster.memoryBytes()) / 2 ** 20)} MiB`,
  );
  dir = await mkdtemp(join(tmpdir(), 'berth-swarm-'));
  home = join(dir, 'h');
  const memory = Number((await cluster.manager.docker.info()).MemTotal);
  await init([
    // berth's firewall rules on every node: test/integration/swarm-firewall.test.ts.
    ['network.firewall', 'off'],
  ]);
  await ok(['plan', 'add', 'wide', '--ram', `${Math.floor((memory * 0.6) / 2 ** 20)}m`, '--cpu', '0.5', '--disk', '0', '--rootfs', '0']);
  for (let i = 1; i < 3; i++) await ok(['node', 'engine', cluster.hostnames[i] as string, (cluster.nodes[i] as NetnsEngine).host]);
  // What an operator may do (docs/swarm.md): each node's config network made beforehand, with addresses of its own.
  for (const [i, node] of cluster.nodes.entries()) {
    await node.docker.createNetwork({
      Name: 'berth-vms-config',
      Driver: 'null',
      ConfigOnly: true,
      IPAM: { Config: [{ Subnet: `10.231.${i}.0/24` }] },
      Options: { 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.name': 'berthvms' },
    } as Docker.NetworkCreateOptions);
  }
  for (const u of users) await ok(['user', 'allow', u, '--plan', 'wide']);
}, 240_000);

afterAll(async () => {
  // A daemon left by a failed test goes first (it runs in the manager's namespace, from this home).
  if (cluster && home) await b(['daemon', 'stop']).catch(() => undefined);
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('berth on a three-node Swarm', () => {
  it('VMs of three users go one to each node by reserved memory, each pinned there; a fourth finds no room and leaves nothing behind', async () => {
    for (const u of users.slice(0, 3)) await ok(['vm', 'create', u]);
    const list = await vms();
    for (const v of list) nodeOf.set(v.user, v.node as string);
    expect(list.map((v) => v.state)).toEqual(['running', 'running', 'running']);
    expect(new Set(list.map((v) => v.node)).size).toBe(3);
    for (const v of list) expect(cluster.ids).toContain(v.node);
    const services = (await cluster.manager.docker.listServices()) as Array<{
      Spec: { TaskTemplate: { Placement: { Constraints: string[] } }; EndpointSpec: { Mode: string } };
    }>;
    expect(services).toHaveLength(3);
    for (const s of services) {
      expect(s.Spec.TaskTemplate.Placement.Constraints).toHaveLength(1);
      expect(s.Spec.TaskTemplate.Placement.Constraints[0]).toMatch(/^node\.id==/);
      expect(s.Spec.EndpointSpec.Mode).toBe('dnsrr');
    }
    const nodes = NodeViewSchema.array().parse(await json(['node', 'list']));
    expect(nodes.map((n) => n.vms).sort()).toEqual([1, 1, 1]);
    for (const n of nodes) expect(n.reserved.cpus).toBe(0.5);

    const fourth = await b(['vm', 'create', users[3] as string, '--json']);
    expect(fourth.code).toBe(1);
    expect(errorCode(fourth)).toBe('NO_NODE_FITS');
    expect((await vms()).map((v) => v.user)).not.toContain(users[3]);
    expect(await cluster.manager.docker.listServices()).toHaveLength(3);
  }, 180_000);

  // The hardening, limits and labels of the container on each node: test/conformance/vm-cases.ts.
  it("vm exec runs in a VM on a worker, through that worker's engine; stats and logs come from there", async () => {
    const login = onNode(1);
    expect(await ok(['vm', 'exec', login, '--', 'id', '-un'])).toContain(login);
    const info = await containerOf(login);
    console.log(
      `worker container: Memory ${info.HostConfig.Memory}, MemorySwap ${info.HostConfig.MemorySwap}, Init ${info.HostConfig.Init}`,
    );
    // Stats and logs come from the same node; `vm stats` without a VM reads every node's.
    const [stats] = (await json(['vm', 'stats', login])) as Array<{ ref: string; pids: number; memoryLimitBytes: number }>;
    expect(stats?.pids).toBeGreaterThan(0);
    expect(stats?.memoryLimitBytes).toBe(info.HostConfig.Memory);
    expect(((await json(['vm', 'stats'])) as unknown[]).length).toBe(3);
    const logs = await b(['vm', 'logs', login]);
    expect(logs.code, logs.stderr).toBe(0);
    // Not on the manager's engine: the manager holds only its own node's containers.
    expect(await cluster.manager.docker.listContainers({ filters: { label: [`dev.berth.user=${login}`] } })).toHaveLength(0);
  }, 60_000);

  it("a home on a worker is backed up and restored there, through that worker's engine", async () => {
    const login = onNode(1);
    await ok(['backup', 'init']);
    const inVm = (script: string) => ok(['vm', 'exec', login, '--', 'sh', '-c', script]);
    await inVm('echo on-the-worker > ~/kept.txt');
    const taken = (await json(['home', 'backup', login])) as { snapshot: string; files: number };
    expect(taken.files).toBeGreaterThan(0);
    await inVm('echo changed > ~/kept.txt');
    const restored = (await json(['home', 'restore', login, '--snapshot', taken.snapshot, '--yes'])) as { restarted: boolean };
    expect(restored.restarted).toBe(true);
    await waitFor('the VM on the worker to answer again', async () => (await b(['vm', 'exec', login, '--', 'true'])).code === 0, 60_000);
    expect((await inVm('cat ~/kept.txt')).trim()).toBe('on-the-worker');
    // restic ran on the worker's engine: its image was provided there.
    const worker = engineOf(nodeOf.get(login) as string);
    expect((await worker.docker.listImages({ filters: { reference: ['berth-restic'] } })).length).toBe(1);
  }, 240_000);

  it("/exec from Telegram and the web terminal in a browser reach a VM on a worker, through that worker's engine", async () => {
    // The stand-in Bot API and the browser are on this machine's loopback, so this daemon runs here,
    // not in the manager's namespace, with the manager's engine as its Docker (its firewall is off in this file).
    const fake = await startFakeBotApi();
    const here = (args: string[], input?: string) => berth(home, args, { input, env: { DOCKER_HOST: cluster.manager.host } });
    const must = async (args: string[], input?: string) => {
      const r = await here(args, input);
      expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const login = onNode(1);
    const person = { id: 5301, username: 'swarmuser' };
    const web = `127.0.0.1:${await freePort()}`;
    let browser: Browser | undefined;
    try {
      for (const args of [
        ['config', 'set', 'telegram.api-root', fake.apiRoot],
        ['config', 'set', 'ssh.enabled', 'off'],
        ['config', 'set', 'web.listen', web],
        ['config', 'set', 'web.public-url', `http://${web}`],
        // The app on an origin of its own: *.localhost, mapped to 127.0.0.1 in the browser below.
        ['config', 'set', 'web.apps-domain', 'localhost'],
        ['user', 'set', login, '--telegram-id', String(person.id)],
      ])
        await must(args);
      await must(['telegram', 'setup'], `${fake.token}\n`);
      await must(['daemon', 'start']);
      const c = await containerOf(login);
      const after = fake.sent.length;
      fake.sendText(person, '/exec id -un; hostname; exit 4');
      const reply = await fake.waitFor((m) => m.chatId === person.id && /Exit code/.test(m.text ?? ''), { after, timeoutMs: 30_000 });
      expect(reply.text).toContain(login);
      expect(reply.text).toContain('Exit code: 4');
      // It ran in the container on the worker: that container's host name.
      expect(reply.text).toContain(c.Config.Hostname);

      const { url } = JSON.parse(await must(['vm', 'web-terminal', login, '--json'])) as { url: string };
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
      });
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForFunction(
        () => (window as unknown as { berth?: { socket(): { readyState: number } | null } }).berth?.socket()?.readyState === 1,
        null,
        { timeout: 20_000 },
      );
      await page.click('#terminal');
      await page.keyboard.type('echo "$(hostname) web-$((6*7))"\n');
      type TermBuffer = { length: number; getLine(i: number): { translateToString(t: boolean): string } | undefined };
      const screen = () =>
        page.evaluate(() => {
          const b = (window as unknown as { berth: { terminal: { buffer: { active: TermBuffer } } } }).berth.terminal.buffer.active;
          return Array.from({ length: b.length }, (_, i) => b.getLine(i)?.translateToString(true) ?? '').join('\n');
        });
      // The user's web app on the worker, through its one-time URL, on its own origin: no route
      // reaches the worker's bridge from here, so the daemon relays through the VM (busybox nc in this image).
      await must(['vm', 'exec', login, '--', 'sh', '-c', 'mkdir -p app && echo app-on-worker > app/index.html && httpd -p 8090 -h app']);
      const app = JSON.parse(await must(['vm', 'url', login, '8090', '--json'])) as { url: string; app: string };
      expect(app.app).toBe(`http://8090--main--${login}.localhost:${web.split(':')[1]}/`);
      const appPage = await browser.newPage();
      await appPage.goto(app.url);
      await appPage.waitForURL(app.app, { timeout: 20_000 });
      await waitFor(
        'the app page from the worker',
        async () => (await appPage.content().catch(() => '')).includes('app-on-worker'),
        20_000,
      );
      await waitFor(
        "the web terminal to show the worker container's answer",
        async () => (await screen()).includes(`${c.Config.Hostname} web-42`),
        20_000,
      );
    } finally {
      await browser?.close();
      await here(['daemon', 'stop']);
      for (const args of [
        ['telegram', 'forget'],
        ['config', 'unset', 'telegram.api-root'],
        ['config', 'unset', 'ssh.enabled'],
        ['config', 'unset', 'web.listen'],
        ['config', 'unset', 'web.public-url'],
        ['config', 'unset', 'web.apps-domain'],
      ])
        await here(args);
      await fake.close();
    }
  }, 120_000);

  it('a VM on node 1 cannot reach a VM on node 2', async () => {
    const [on1, on2] = [onNode(0), onNode(1)];
    await ok(['vm', 'exec', on2, '--', 'sh', '-c', 'mkdir -p www && echo hello-from-node2 > www/index.html && httpd -p 8080 -h www']);
    const address = Object.values((await containerOf(on2)).NetworkSettings.Networks)[0]?.IPAddress as string;
    const own = Object.values((await containerOf(on1)).NetworkSettings.Networks)[0]?.IPAddress as string;
    expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(own).not.toBe(address);
    // The server answers on its own node …
    await waitFor(
      'the web server in the VM on node 2',
      async () =>
        (
          await (cluster.nodes[1] as NetnsEngine).exec('timeout', [
            '3',
            'bash',
            '-c',
            'exec 3<>/dev/tcp/$0/8080; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3',
            address,
          ])
        ).stdout.includes('hello-from-node2'),
      20_000,
    );
    // … and not to the VM on node 1, by its address or by the node's.
    for (const target of [address, '192.168.250.11']) {
      // busybox nc, not wget: this image's static busybox wget crashes (SIGSEGV) before it connects.
      const tried = await b([
        'vm',
        'exec',
        on1,
        '--',
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ${target} 8080 2>&1; echo "rc=$?"`,
      ]);
      expect(tried.stdout).not.toContain('hello-from-node2');
      expect(tried.stdout).toMatch(/rc=[1-9]/);
    }
  }, 60_000);

  it('a drained node keeps its VMs and gets no new one; activate lifts the drain (the next test moves a VM there)', async () => {
    const node3 = cluster.hostnames[2] as string;
    const login = onNode(2);
    const drained = NodeViewSchema.parse(await json(['node', 'drain', node3]));
    expect(drained.drained).toBe(true);
    expect((await vms()).find((v) => v.user === login)?.state).toBe('running');
    expect(await ok(['vm', 'exec', login, '--', 'echo', 'still-here'])).toContain('still-here');
    await ok(['vm', 'destroy', login, '--yes']);
    nodeOf.delete(login);
    // Nodes 1 and 2 are full, node 3 is empty but drained.
    const refused = await b(['vm', 'create', users[3] as string, '--json']);
    expect(errorCode(refused), refused.stderr).toBe('NO_NODE_FITS');
    expect(NodeViewSchema.parse(await json(['node', 'activate', node3])).drained).toBe(false);
  }, 120_000);

  it('vm move takes a VM to another node with its home: stopped, copied, re-pinned, started', async () => {
    const login = onNode(1);
    await ok(['vm', 'exec', login, '--', 'sh', '-c', 'mkdir -p notes && echo kept-across-nodes > notes/a.txt']);
    const started = Date.now();
    const moved = VmViewSchema.parse(await json(['vm', 'move', login, '--to', cluster.hostnames[2] as string]));
    console.log(`vm move (small home): ${Date.now() - started} ms`);
    expect(moved.node).toBe(cluster.ids[2]);
    expect(moved.state).toBe('running');
    nodeOf.set(login, cluster.ids[2] as string);
    expect(await ok(['vm', 'exec', login, '--', 'cat', 'notes/a.txt'])).toContain('kept-across-nodes');
    expect(await ok(['vm', 'exec', login, '--', 'stat', '-c', '%U', 'notes/a.txt'])).toContain(login);
    // The old home is gone from node 2, the container runs on node 3.
    const left = (await (cluster.nodes[1] as NetnsEngine).docker.listVolumes()).Volumes ?? [];
    expect(left.filter((v) => v.Labels?.['dev.berth.user'] === login)).toEqual([]);
    expect((await containerOf(login)).State.Running).toBe(true);
  }, 120_000);

  it('maintenance stops every VM on every node through its service and starts them there again', async () => {
    await ok(['maintenance', 'on', '--reason', 'test']);
    const off = await vms();
    expect(off.map((v) => [v.desired, v.state])).toEqual(off.map(() => ['stopped', 'exited']));
    expect(await cluster.manager.docker.listServices()).toHaveLength(2);
    await ok(['maintenance', 'off']);
    const on = await vms();
    expect(on.map((v) => v.state)).toEqual(on.map(() => 'running'));
    for (const v of on) expect(v.node).toBe(nodeOf.get(v.user));
    // The record follows each new task's container: exec reaches every VM, the moved one with its files.
    for (const v of on) expect(await ok(['vm', 'exec', v.user, '--', 'echo', `up-${v.user}`])).toContain(`up-${v.user}`);
    expect(await ok(['vm', 'exec', onNode(2), '--', 'cat', 'notes/a.txt'])).toContain('kept-across-nodes');
  }, 120_000);

  it('the idle policy reads each VM on its own node: a command running keeps a VM on a worker, then idle it is stopped', async () => {
    const worker = onNode(2);
    const manager = onNode(0);
    const before = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = cluster.manager.host;
    const notices: Notice[] = [];
    const ctx = openBerth(home, { send: async (n) => void notices.push(n) });
    await ok(['config', 'set', 'idle-timeout', '1m']);
    const busy = b(['vm', 'exec', worker, '--', 'sleep', '15']);
    try {
      await waitFor(
        'the command to run in the VM on the worker',
        async () => ((await containerOf(worker)).ExecIDs ?? []).length > 0,
        20_000,
      );
      // The TUI's live numbers come from each VM's own node: from its engine, as for a node on
      // another machine (the cgroup files, which here would show every node's, are not looked at).
      const live = vmLiveStats(ctx, { cgroupRoot: join(dir, 'no-cgroups') });
      try {
        const wanted = ((await state(home)).vms as Array<{ user: string; name: string; containerId: string; node?: string }>).map((v) => ({
          ref: `${v.user}/${v.name}`,
          containerId: v.containerId,
          ...(v.node ? { node: v.node } : {}),
        }));
        const got = await waitFor(
          'live numbers of the VMs on both nodes',
          async () => {
            const read = await live.read(wanted, []);
            return wanted.every((w) => (read.get(w.ref)?.memoryUsedBytes ?? 0) > 0) ? read : null;
          },
          20_000,
        );
        expect([...got.keys()].sort()).toEqual([`${manager}/main`, `${worker}/main`].sort());
      } finally {
        live.close();
      }
      const first = await enforcePolicies(ctx, new Date(Date.now() + 3 * 3600_000));
      // The manager's VM is idle; the worker's runs a command (seen on the worker's engine).
      expect(first.map((a) => [a.vm, a.action, a.reason])).toEqual([[`${manager}/main`, 'stopped', 'idle']]);
      await busy;
      const second = await enforcePolicies(ctx, new Date(Date.now() + 6 * 3600_000));
      expect(second.map((a) => [a.vm, a.action, a.reason])).toEqual([[`${worker}/main`, 'stopped', 'idle']]);
      expect(notices.map((n) => n.to).sort()).toEqual([manager, worker].sort());
    } finally {
      await busy.catch(() => undefined);
      if (before === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = before;
      await ok(['config', 'unset', 'idle-timeout']);
    }
    for (const login of [manager, worker]) await ok(['vm', 'start', login]);
    expect((await vms()).map((v) => v.state)).toEqual(['running', 'running']);
  }, 120_000);

  it('a container Swarm replaces on its own (its process killed on the node) is checked and followed: exec reaches the new one', async () => {
    const login = onNode(2);
    const engine = engineOf(nodeOf.get(login) as string);
    const old = (await containerOf(login)).Id;
    await engine.docker.getContainer(old).kill({ signal: 'SIGKILL' });
    await waitFor(
      "Swarm's new container for the VM",
      async () => {
        const [c] = await engine.docker.listContainers({ filters: { label: [`dev.berth.user=${login}`] } });
        return Boolean(c && c.Id !== old && c.State === 'running');
      },
      60_000,
    );
    // The first use checks the new container's hardening (it passes: the node is sound) and records it.
    expect(await ok(['vm', 'exec', login, '--', 'sh', '-c', 'grep NoNewPrivs /proc/1/status; cat notes/a.txt'])).toMatch(
      /NoNewPrivs:\s*1[\s\S]*kept-across-nodes/,
    );
    const now = (await containerOf(login)).Id;
    expect(now).not.toBe(old);
    expect((await vms()).find((v) => v.user === login)?.containerId).toBe(now.slice(0, 12));
  }, 90_000);

  it('a container that lost a hardening field (its node lost no-new-privileges) is removed with a clear error; that node gets no VMs', async () => {
    // Node 2 is empty now; berth checked it a while ago (it had no-new-privileges); now its daemon runs without.
    const node2 = cluster.nodes[1] as NetnsEngine;
    await writeFile(join(node2.dir, 'daemon.json'), '{}');
    await node2.restartDocker();
    await waitFor(
      'node 2 ready again',
      async () => {
        const list = (await cluster.manager.docker.listNodes()) as Array<{ ID: string; Status: { State: string } }>;
        return list.find((n) => n.ID === cluster.ids[1])?.Status.State === 'ready';
      },
      60_000,
    );
    const r = await b(['vm', 'create', users[3] as string, '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(errorCode(r), r.stderr).toBe('HARDENING_LOST');
    expect(r.stderr).toContain('no-new-privileges');
    expect((await vms()).map((v) => v.user)).not.toContain(users[3]);
    expect(await cluster.manager.docker.listServices()).toHaveLength(2);
    await waitFor(
      'its home volume removed',
      async () => ((await node2.docker.listVolumes()).Volumes ?? []).every((v) => !v.Labels?.['dev.berth.user']),
      30_000,
    );

    const shown = NodeViewSchema.parse(await json(['node', 'show', cluster.hostnames[1] as string]));
    expect(shown.acceptsVms).toBe(false);
    expect(shown.problems.join(' ')).toContain('"no-new-privileges": true');
    const doctor = await b(['doctor', '--json']);
    expect(doctor.code).toBe(1);
    const nodes = (JSON.parse(doctor.stdout) as { nodes: Array<{ id: string; ok: boolean }> }).nodes;
    expect(nodes.find((n) => n.id === cluster.ids[1])?.ok).toBe(false);
    const again = await b(['vm', 'create', users[3] as string, '--json']);
    expect(errorCode(again), again.stderr).toBe('NO_NODE_FITS');
  }, 150_000);

  it("the SSH gateway on the manager opens a session in a VM on a worker, through that worker's engine", async () => {
    const login = onNode(2);
    const keyFile = join(dir, 'key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', keyFile]);
    await ok(['user', 'key', 'add', login, '--file', `${keyFile}.pub`]);
    await ok(['config', 'set', 'ssh.listen', '127.0.0.1:2222']);
    await ok(['config', 'set', 'sessions.record', 'output']);
    await ok(['daemon', 'start']);
    const ssh = (command: string) => sshTo(login, command);
    const r = await waitFor(
      'a session through the gateway',
      async () => {
        const run = await ssh('id -un; cat notes/a.txt; echo "exit-$?"');
        return run.code === 0 ? run : null;
      },
      30_000,
    );
    expect(r.stdout).toContain(login);
    expect(r.stdout).toContain('kept-across-nodes');
    expect((await ssh('exit 7')).code).toBe(7);
    // ssh -W (direct-tcpip) to a port of the VM on the worker: relayed through the VM, not routed.
    expect((await ssh('mkdir -p www && echo forwarded-from-worker > www/index.html && httpd -p 8081 -h www')).code).toBe(0);
    const forwarded = await cluster.manager.exec(
      'ssh',
      [...sshClientOptions(2222, join(dir, 'key')), '-W', 'localhost:8081', `${login}@127.0.0.1`],
      { input: 'GET / HTTP/1.0\r\n\r\n' },
    );
    expect(forwarded.stdout, forwarded.stderr).toContain('forwarded-from-worker');
    // The gateway asked the VM's node whether it runs: it did not start it again (no start by the user in the log).
    const events = (await state(home)).events as Array<{ vm: string; kind: string; reason: string }>;
    expect(events.filter((e) => e.vm.startsWith(`${login}/`) && e.kind === 'start' && e.reason === `user ${login}`)).toEqual([]);
    // A terminal session in the worker's VM is recorded on the manager, by the gateway that relays it.
    const tty = await cluster.manager.exec('ssh', [
      '-tt',
      ...sshClientOptions(2222, join(dir, 'key')),
      `${login}@127.0.0.1`,
      'echo SWARM-$((6*7))',
    ]);
    expect(tty.stdout).toContain('SWARM-42');
    const recorded = await waitFor('the recording of the session on the worker', async () => {
      const listed = JSON.parse(await ok(['sessions', 'recordings', '--user', login, '--json'])) as {
        recordings: Array<{ id: string; vm: string; command: string | null }>;
      };
      return listed.recordings.find((r) => r.command === 'echo SWARM-$((6*7))');
    });
    expect(recorded.vm).toBe(`${login}/main`);
    const exported = await ok(['sessions', 'export', recorded.id]);
    expect(exported).toContain('SWARM-42');
    await ok(['config', 'unset', 'sessions.record']);
  }, 90_000);

  it("the daemon follows each worker's engine: a VM killed on its node is logged with the node, its owner told, and followed into its new task", async () => {
    const login = onNode(2);
    const node3 = cluster.hostnames[2] as string;
    const component = async () =>
      (
        JSON.parse(await ok(['daemon', 'status', '--json'])) as { components: Array<{ name: string; state: string; detail: string }> }
      ).components.find((c) => c.name === 'nodes');
    await waitFor(
      'the worker nodes followed',
      async () => /following the events of 2 of 2 /.test((await component())?.detail ?? ''),
      30_000,
    );
    const started = Date.now();
    const since = new Date(started).toISOString();
    const events = async () => (await state(home)).events as Array<{ at: string; vm: string; kind: string; reason: string }>;
    // This VM's events from now on (berth's own starts and stops of it are in the log before).
    const mine = async (kind: string) => (await events()).filter((e) => e.vm.startsWith(`${login}/`) && e.kind === kind && e.at >= since);
    const before = (await containerOf(login)).Id;
    await engineOf(nodeOf.get(login) as string)
      .docker.getContainer(before)
      .kill();
    const [died] = await waitFor('the death in the event log', async () => ((await mine('die')).length ? mine('die') : null), 20_000);
    console.log(`kill on a worker -> event log: ${Date.now() - started} ms`);
    expect(died?.reason).toContain(`on node ${node3}`);
    await waitFor('the owner told', async () => (await daemonLog(home)).includes('"kind":"vm-died"'), 10_000);
    // Swarm runs a new task (a new container) on the pinned node; the record follows it as it starts.
    const [back] = await waitFor('the restart in the event log', async () => ((await mine('start')).length ? mine('start') : null), 30_000);
    expect(back?.reason).toBe(`restarted by the engine on node ${node3}`);
    // The record takes the new container on once its hardening is checked (the backend, as for any use of it).
    const record = await waitFor(
      'the record on the new container',
      async () => {
        const r = ((await state(home)).vms as Array<{ user: string; containerId: string }>).find((v) => v.user === login);
        return r && r.containerId !== before ? r : null;
      },
      20_000,
    );
    expect(record.containerId).toBe((await containerOf(login)).Id);
    // A second death, of the new container, is recorded too.
    await engineOf(nodeOf.get(login) as string)
      .docker.getContainer(record.containerId)
      .kill();
    await waitFor('the second death', async () => (await mine('die')).length === 2, 20_000);
  }, 60_000);

  it('/metrics has a series per node: its engine up, its VMs by state, what they reserve of it', async () => {
    const metrics = await getMetrics();
    const value = (name: string, labels: string) =>
      Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
    for (const host of cluster.hostnames) expect(value('berth_node_up', `node="${host}"`), host).toBe(1);
    const [n1, n2, n3] = cluster.hostnames as [string, string, string];
    await waitFor('node 3 VM running again', async () => (await vms()).every((v) => v.state === 'running'), 30_000);
    const again = await getMetrics();
    const count = (node: string, st: string) =>
      Number(new RegExp(`^berth_node_vms\\{node="${node}",state="${st}"\\} (\\S+)$`, 'm').exec(again)?.[1] ?? 0);
    expect([count(n1, 'running'), count(n2, 'running'), count(n3, 'running')]).toEqual([1, 0, 1]);
    expect(value('berth_node_reserved_cpus', `node="${n1}"`)).toBe(0.5);
    expect(value('berth_node_reserved_cpus', `node="${n2}"`)).toBe(0);
    const memory = value('berth_node_memory_bytes', `node="${n3}"`);
    expect(value('berth_node_reserved_memory_bytes', `node="${n3}"`) / memory).toBeCloseTo(0.6, 1);
    expect(again).toMatch(/^berth_vms\{state="running"\} 2$/m);
    // Bounded: one series per node, none per VM.
    expect(again.match(/^berth_node_up\{/gm)).toHaveLength(3);
  }, 60_000);

  it('a node whose engine never answers (its dockerd frozen) is reported within the deadlines; the daemon and /metrics are not held up; it is followed again when it answers', async () => {
    const n2 = cluster.hostnames[1] as string;
    const node2 = cluster.nodes[1] as NetnsEngine;
    // Its dockerd process (SIGSTOP: the socket takes connections, nothing answers).
    const pid = await dockerdPid(node2);
    const nodesComponent = async () =>
      (
        JSON.parse(await ok(['daemon', 'status', '--json'])) as { components: Array<{ name: string; state: string; detail: string }> }
      ).components.find((c) => c.name === 'nodes');
    process.kill(pid, 'SIGSTOP');
    try {
      const frozen = Date.now();
      await waitFor('node 2 reported not followed', async () => (await nodesComponent())?.detail.includes(`not: ${n2}`), 45_000);
      console.log(`a frozen node's engine reported by the daemon after ${Date.now() - frozen} ms`);
      const asked = Date.now();
      const metrics = await getMetrics();
      const took = Date.now() - asked;
      console.log(`/metrics with a frozen node: ${took} ms`);
      expect(metrics).toContain(`berth_node_up{node="${n2}"} 0`);
      expect(metrics).toContain(`berth_node_up{node="${cluster.hostnames[0]}"} 1`);
      expect(took).toBeLessThan(16_000);
      expect((await vms()).filter((v) => v.state === 'running')).toHaveLength(2);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(
      'node 2 followed again',
      async () => /following the events of 2 of 2 /.test((await nodesComponent())?.detail ?? ''),
      45_000,
    );
  }, 120_000);

  it('a node whose engine is stopped shows its VMs node-down; the others are served, the daemon keeps running', async () => {
    const [on1, on3] = [onNode(0), onNode(2)];
    await (cluster.nodes[2] as NetnsEngine).stopDocker();
    const started = Date.now();
    const list = await vms();
    console.log(`vm list with one node down: ${Date.now() - started} ms`);
    expect(list.find((v) => v.user === on3)?.state).toBe('node-down');
    expect(list.find((v) => v.user === on1)?.state).toBe('running');
    expect(await ok(['vm', 'exec', on1, '--', 'echo', 'served'])).toContain('served');
    const down = await b(['vm', 'exec', on3, '--json', '--', 'true']);
    expect(down.code).toBe(1);
    expect(errorCode(down)).toBe('NODE_DOWN');
    const viaSsh = await sshTo(on3, 'true');
    expect(viaSsh.code).not.toBe(0);
    expect(viaSsh.stderr).toMatch(/does not answer/);
    const status = JSON.parse(await ok(['daemon', 'status', '--json'])) as {
      running: boolean;
      components: Array<{ name: string; state: string }>;
    };
    expect(status.running).toBe(true);
    console.log(`daemon components with node 3 down: ${status.components.map((c) => `${c.name}=${c.state}`).join(', ')}`);
    const node3 = cluster.hostnames[2] as string;
    const metrics = await getMetrics();
    expect(metrics).toContain(`berth_node_up{node="${node3}"} 0`);
    expect(metrics).toContain(`berth_node_up{node="${cluster.hostnames[0]}"} 1`);
    expect(metrics).toContain(`berth_node_vms{node="${node3}",state="node-down"} 1`);
    await waitFor(
      "node 3's events not followed",
      async () => {
        const s = JSON.parse(await ok(['daemon', 'status', '--json'])) as {
          components: Array<{ name: string; state: string; detail: string }>;
        };
        const nodes = s.components.find((c) => c.name === 'nodes');
        return nodes?.state === 'failed' && nodes.detail.includes(`not: ${node3}`);
      },
      30_000,
    );
    await ok(['daemon', 'stop']);
  }, 90_000);

  it('berth tui on the manager: a NODE column (node 3 down, marked) and a Nodes tab as node list says', async () => {
    const session = `berth-swarm-tui-${process.pid}`;
    const [on1, on3] = [onNode(0), onNode(2)];
    const [n1, , n3] = cluster.hostnames as [string, string, string];
    // A table row (the header line names the manager's host too).
    const lineOf = (shown: string, text: string) => shown.split('\n').find((l) => l.includes(text) && /^[> ] /.test(l)) ?? '';
    try {
      await tmux(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '160',
        '-y',
        '30',
        `nsenter --net=/run/netns/${cluster.manager.netns} env -u CI BERTH_HOME=${home} DOCKER_HOST=${cluster.manager.host} TERM=xterm-256color node ${BIN} tui; sleep 60`,
      );
      const { shows } = pane(session);
      let shown = await shows(
        (s) => lineOf(s, on1).includes('running') && lineOf(s, on3).includes('node-down'),
        'the VMs with their states',
      );
      expect(shown).toMatch(/USER\s+VM\s+NODE\s+PLAN\s+STATE/);
      expect(lineOf(shown, on1)).toContain(n1);
      expect(lineOf(shown, on3)).toContain(`✗ ${n3}`);
      await tmux('send-keys', '-t', session, '6');
      shown = await shows((s) => s.includes('[6 Nodes]') && /ENGINE/.test(s) && lineOf(s, n3).includes('down'), 'the Nodes tab');
      expect(lineOf(shown, n1)).toMatch(/leader\s+ready\s+ok\s+active\s+–\s+1\s+0\.5\//);
      expect(lineOf(shown, n3)).toMatch(/worker\s+\S+\s+down\s+active\s+–\s+1\s+0\.5\//);
      await tmux('send-keys', '-t', session, 'q');
    } finally {
      await tmux('kill-session', '-t', session).catch(() => undefined);
    }
  }, 60_000);
});
