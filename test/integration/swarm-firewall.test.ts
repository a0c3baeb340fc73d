import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeViewSchema } from '../../src/views/node-view.js';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { waitFor } from '../helpers/daemon.js';
import { MINIMAL_IMAGE, unique } from '../helpers/docker.js';
import type { NetnsEngine, NsRun } from '../helpers/netns-engine.js';
import { swarmBerth } from '../helpers/swarm-berth.js';
import { type SwarmCluster, startSwarm } from '../helpers/swarm-cluster.js';

/**
 * berth's egress policy on every Swarm node (test/helpers/swarm-cluster.ts, two nodes: the
 * manager 192.168.250.10 and a worker 192.168.250.11, joined by a switch namespace that also
 * holds 192.168.250.2, a machine of the LAN that is no node; private ranges are refused by default,
 * and network.private-allow opens the LAN's 192.168.250.0/24). Each node runs web servers in its
 * own namespace on 0.0.0.0: port 18996 (what network.host-allow lets through) and 18998 (not).
 * All addresses exist only inside the namespaces the harness made. The metadata service's rule
 * is read, never tried.
 */
let cluster: SwarmCluster;
let dir: string;
let home: string;
const servers: number[] = [];
const [onWorker, onManager] = [unique('fw1'), unique('fw2')];
const LAN = '192.168.250.2';

const worker = () => cluster.nodes[1] as NetnsEngine;

/** A web server on 0.0.0.0:PORT in a namespace (`run` enters it) that answers `svc-PORT`; its pid is kept to be killed. */
async function serve(run: (file: string, args: string[]) => Promise<NsRun>, port: number): Promise<void> {
  const script = `require('http').createServer((q,r)=>r.end('svc-${port}')).listen(${port},'0.0.0.0');setTimeout(()=>process.exit(0),600000).unref()`;
  const r = await run('sh', ['-c', `"$0" -e "$1" >/dev/null 2>&1 & echo $!`, process.execPath, script]);
  servers.push(Number(r.stdout.trim()));
}

/** What a VM gets from http://TARGET/ (busybox nc's output and exit code; busybox wget of this image crashes). */
async function fetchFrom(login: string, target: string): Promise<string> {
  const [host, port] = target.split(':') as [string, string];
  return ok(['vm', 'exec', login, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 ${host} ${port} 2>&1; echo " rc=$?"`]);
}

/** The filter table of a node's namespace, as iptables-save prints it. */
const rulesOn = async (node: NetnsEngine) => (await node.exec('iptables-save', ['-t', 'filter'])).stdout;

const { b, ok, json, init } = swarmBerth(
  () => cluster,
  () => home,
);

beforeAll(async () => {
  cluster = await startSwarm({ size: 2, images: [MINIMAL_IMAGE] });
  dir = await mkdtemp(join(tmpdir(), 'berth-swfw-'));
  home = join(dir, 'h');
  await init([
    ['network.host-allow', 'tcp/18996'],
    ['network.private-allow', '192.168.250.0/24'],
  ]);
  await ok(['node', 'engine', cluster.hostnames[1] as string, worker().host]);
  for (const u of [onWorker, onManager]) await ok(['user', 'allow', u]);
  // The LAN machine: an address on the switch, no node.
  await execa('ip', ['netns', 'exec', cluster.hub, 'ip', 'addr', 'add', `${LAN}/24`, 'dev', 'br0']);
  const inHub = (file: string, args: string[]) =>
    execa('ip', ['netns', 'exec', cluster.hub, file, ...args], { reject: false }).then((r) => ({
      code: r.exitCode ?? -1,
      stdout: String(r.stdout),
      stderr: String(r.stderr),
    }));
  for (const node of cluster.nodes) for (const port of [18996, 18998]) await serve((f, a) => node.exec(f, a), port);
  await serve(inHub, 18996);
}, 240_000);

afterAll(async () => {
  for (const pid of servers) if (pid > 0) process.kill(pid, 'SIGKILL');
  if (cluster && home) await b(['daemon', 'stop']).catch(() => undefined);
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe("berth's firewall on a two-node Swarm", () => {
  it("a VM on a worker gets its node's rules: its node refused but host-allow, the other node refused, the LAN reached", async () => {
    // The manager drained: the VM must go to the worker, whose rules berth installs first.
    await ok(['node', 'drain', cluster.hostnames[0] as string]);
    await ok(['vm', 'create', onWorker]);
    const [vm] = VmViewSchema.array().parse(await json(['vm', 'list', '--all']));
    expect(vm?.node).toBe(cluster.ids[1]);
    const [c] = await worker().docker.listContainers({ filters: { label: [`dev.berth.user=${onWorker}`] } });
    const net = Object.values(
      (
        await worker()
          .docker.getContainer(c?.Id as string)
          .inspect()
      ).NetworkSettings.Networks,
    )[0];
    const gateway = net?.Gateway as string;
    expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    // The LAN, opened by private-allow, answers (a control: the VM's traffic leaves the worker) …
    expect(await fetchFrom(onWorker, `${LAN}:18996`)).toContain('svc-18996');
    // … its own node only on the port host-allow names, by its bridge address or its LAN one …
    for (const own of [gateway, '192.168.250.11']) {
      expect(await fetchFrom(onWorker, `${own}:18996`)).toContain('svc-18996');
      const refused = await fetchFrom(onWorker, `${own}:18998`);
      expect(refused).not.toContain('svc-');
      expect(refused).toMatch(/rc=[1-9]/);
    }
    // … and the other node on no port at all.
    for (const port of [18996, 18998]) {
      const refused = await fetchFrom(onWorker, `192.168.250.10:${port}`);
      expect(refused).not.toContain('svc-');
      expect(refused).toMatch(/rc=[1-9]/);
    }

    // The rules, read in the worker's namespace: jumps from INPUT and DOCKER-USER for its bridge,
    // the metadata addresses and both nodes' addresses refused before the LAN is let through,
    // the rest of the private ranges refused after it.
    const rules = await rulesOn(worker());
    const chain = /-A (BERTH-FWD-[0-9a-f]{12}) /.exec(rules)?.[1] as string;
    expect(chain).toBeTruthy();
    expect(rules).toMatch(new RegExp(`-A DOCKER-USER -i \\S+ .*-j ${chain}`));
    expect(rules).toMatch(/-A INPUT -i \S+ .*-j BERTH-IN-[0-9a-f]{12}/);
    const fwd = rules.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
    const lan = fwd.indexOf(`-A ${chain} -d 192.168.250.0/24 -j RETURN`);
    expect(lan).toBeGreaterThan(0);
    for (const refused of ['169.254.0.0/16', '100.100.100.200/32', '168.63.129.16/32', '192.168.250.10/32', '192.168.250.11/32']) {
      const at = fwd.findIndex((l) => l.startsWith(`-A ${chain} -d ${refused} -j REJECT`));
      expect(at, refused).toBeGreaterThan(0);
      expect(at, refused).toBeLessThan(lan);
    }
    expect(fwd.findIndex((l) => l.startsWith(`-A ${chain} -d 192.168.0.0/16 -j REJECT`))).toBeGreaterThan(lan);

    const status = await json<{ state: string; nodes: Array<{ node: string; state: string }> }>(['network', 'status']);
    expect(status.state).toBe('ok');
    expect(status.nodes).toEqual([expect.objectContaining({ node: cluster.hostnames[1], state: 'ok' })]);
    const shown = NodeViewSchema.parse(await json(['node', 'show', cluster.hostnames[1] as string]));
    expect(shown.firewall?.state).toBe('ok');
  }, 150_000);

  it("a VM on the manager cannot reach the worker's host services either (the manager's rules refuse every node)", async () => {
    await ok(['node', 'activate', cluster.hostnames[0] as string]);
    await ok(['node', 'drain', cluster.hostnames[1] as string]);
    await ok(['vm', 'create', onManager]);
    const vm = VmViewSchema.array()
      .parse(await json(['vm', 'list', '--all']))
      .find((v) => v.user === onManager);
    expect(vm?.node).toBe(cluster.ids[0]);
    expect(await fetchFrom(onManager, `${LAN}:18996`)).toContain('svc-18996');
    for (const port of [18996, 18998]) {
      const refused = await fetchFrom(onManager, `192.168.250.11:${port}`);
      expect(refused).not.toContain('svc-');
      expect(refused).toMatch(/rc=[1-9]/);
    }
    await ok(['node', 'activate', cluster.hostnames[1] as string]);
  }, 120_000);

  it("a worker's rules taken away are put back: by network apply, and by the daemon on its own", async () => {
    const jump = () =>
      rulesOn(worker()).then((r) => r.split('\n').find((l) => l.startsWith('-A DOCKER-USER ') && l.includes('BERTH-FWD-')) ?? '');
    const drop = async () => {
      const line = await jump();
      expect(line).not.toBe('');
      const r = await worker().exec('iptables', ['-t', 'filter', '-D', ...splitRule(line.replace(/^-A /, ''))]);
      expect(r.code, r.stderr).toBe(0);
      expect(await jump()).toBe('');
    };
    await drop();
    const drifted = await b(['network', 'status', '--json']);
    expect(drifted.code).toBe(1);
    expect((JSON.parse(drifted.stdout) as { nodes: Array<{ state: string }> }).nodes[0]?.state).toMatch(/drifted|missing/);
    const applied = await json<{ nodes: Array<{ state: string; changes: string[] }> }>(['network', 'apply']);
    expect(applied.nodes[0]?.state).toBe('ok');
    expect(applied.nodes[0]?.changes.length).toBeGreaterThan(0);
    expect(await jump()).not.toBe('');
    // Its VM is isolated again.
    expect(await fetchFrom(onWorker, '192.168.250.11:18998')).toMatch(/rc=[1-9]/);

    await ok(['daemon', 'start'], { BERTH_FIREWALL_CHECK_MS: '1000' });
    try {
      await drop();
      await waitFor("the daemon to put the worker's jump back", async () => (await jump()) !== '', 30_000);
    } finally {
      await ok(['daemon', 'stop']);
    }
  }, 120_000);

  it('a worker whose rules cannot be installed takes no VM: a clear error, nothing left behind', async () => {
    // A VM image without chroot: berth's tool container cannot run the worker's iptables.
    const broken = `berth-test-nochroot:${unique('t')}`;
    const [repo, tag] = broken.split(':') as [string, string];
    for (const node of cluster.nodes) {
      const c = await node.docker.createContainer({
        Image: MINIMAL_IMAGE,
        Entrypoint: ['/bin/rm', '-f', '/usr/sbin/chroot', '/sbin/chroot', '/bin/chroot', '/usr/bin/chroot'],
      });
      await c.start();
      await c.wait();
      await c.commit({ repo, tag });
      await c.remove();
    }
    const third = unique('fw3');
    await ok(['user', 'allow', third]);
    await ok(['config', 'set', 'image', broken]);
    await ok(['node', 'drain', cluster.hostnames[0] as string]);
    const services = (await cluster.manager.docker.listServices()).length;
    try {
      const refused = await b(['vm', 'create', third, '--json']);
      expect(refused.code).toBe(1);
      const error = (JSON.parse(refused.stderr.trim().split('\n').pop() ?? '{}') as { error?: { code?: string; message?: string } }).error;
      expect(error?.code, refused.stderr).toBe('NODE_FIREWALL_FAILED');
      expect(error?.message).toContain(cluster.hostnames[1]);
      expect(await cluster.manager.docker.listServices()).toHaveLength(services);
      expect(
        VmViewSchema.array()
          .parse(await json(['vm', 'list', '--all']))
          .map((v) => v.user),
      ).not.toContain(third);
      const shown = NodeViewSchema.parse(await json(['node', 'show', cluster.hostnames[1] as string]));
      expect(shown.firewall?.state).toBe('unavailable');
      expect(shown.acceptsVms).toBe(false);
      // The VM already running there: the daemon can no longer check (or repair) that node's rules,
      // so after two checks in a row it stops the VM rather than leave it unchecked.
      await ok(['daemon', 'start'], { BERTH_FIREWALL_CHECK_MS: '1000' });
      try {
        await waitFor(
          "the daemon to stop the VM whose node's rules cannot be kept",
          async () => {
            const vm = VmViewSchema.array()
              .parse(await json(['vm', 'list', '--all']))
              .find((v) => v.user === onWorker);
            return vm?.desired === 'stopped' && vm.stopReason === 'firewall';
          },
          60_000,
        );
      } finally {
        await ok(['daemon', 'stop']);
      }
    } finally {
      await ok(['config', 'set', 'image', MINIMAL_IMAGE]);
      await ok(['node', 'activate', cluster.hostnames[0] as string]);
      for (const node of cluster.nodes)
        await node.docker
          .getImage(broken)
          .remove()
          .catch(() => undefined);
    }
    // Its node can have its rules again: a start installs them first.
    await ok(['vm', 'start', onWorker]);
    expect(await fetchFrom(onWorker, '192.168.250.11:18998')).toMatch(/rc=[1-9]/);
  }, 150_000);

  it('network remove takes the rules away on every node; nothing of the chains is left', async () => {
    const removed = await json<{ removed: string[]; failed: string[] }>(['network', 'remove']);
    expect(removed.failed).toEqual([]);
    expect(removed.removed.some((l) => l.startsWith(`${cluster.hostnames[1]}: `))).toBe(true);
    for (const node of cluster.nodes) expect(await rulesOn(node)).not.toMatch(/BERTH-(IN|FWD)-/);
  }, 60_000);
});

/** An iptables-save rule split into arguments, quoted comments kept whole. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string);
}
