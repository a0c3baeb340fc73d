import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirewallReportSchema } from '../../src/views/firewall-view.js';
import { BIN, berth, berthJson } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';
import { detachDisksUnder, docker, MINIMAL_IMAGE, unique, type VmHome, vmHome } from '../helpers/docker.js';
import { type NetnsEngine, startNetnsEngine } from '../helpers/netns-engine.js';

let h: VmHome;
let login: string;
let gateway: string;
let bridge: string;
const run = (args: string[], env?: Record<string, string>) => berth(h.home, args, { env });
const json = <T>(args: string[]) => berthJson<T>(h.home, args);

/** The lines of a filter table that belong to an instance: its chains' rules and the jumps into them. */
async function ours(instanceId: string, family: 4 | 6 = 4, exec = (f: string, a: string[]) => execa(f, a)): Promise<string[]> {
  const out = (await exec(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'filter'])).stdout;
  return out.split('\n').filter((l) => l.startsWith('-A ') && l.includes(instanceId));
}

function chainRules(lines: string[], chain: string): string[] {
  return lines.filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.slice(`-A ${chain} `.length));
}

interface Listener {
  port: number;
  /** Connections that came from somewhere other than loopback. */
  remote: number;
  server: Server;
}

async function listener(greeting: string): Promise<Listener> {
  const l: Listener = { port: 0, remote: 0, server: createServer() };
  l.server.on('connection', (socket) => {
    if (!['127.0.0.1', '::ffff:127.0.0.1'].includes(socket.remoteAddress ?? '')) l.remote++;
    socket.end(`${greeting}\n`);
  });
  await new Promise<void>((resolve) => l.server.listen(0, '0.0.0.0', resolve));
  l.port = (l.server.address() as { port: number }).port;
  return l;
}

function fromHost(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = connect(port, '127.0.0.1');
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('end', () => resolve(text.trim()));
    s.on('error', reject);
  });
}

/** A TCP connection from the VM with busybox nc, 3 s at most. */
async function fromVm(address: string, port: number): Promise<{ code: number; out: string; ms: number }> {
  const start = Date.now();
  const r = await run(['vm', 'exec', login, '--', 'sh', '-c', `nc -w 3 ${address} ${port} </dev/null 2>&1`]);
  return { code: r.code, out: `${r.stdout}${r.stderr}`, ms: Date.now() - start };
}

/** The host's own IPv4 addresses other than loopback (connections to them never leave the host). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a?.address as string);
}

beforeAll(async () => {
  h = await vmHome();
  login = unique('fw');
  expect((await run(['user', 'allow', login])).code).toBe(0);
  const created = await run(['vm', 'create', login]);
  expect(created.code, created.stderr).toBe(0);
  await waitFor('the VM to be ready', async () => (await run(['vm', 'exec', login, '--', 'true'])).code === 0);
  const net = await docker.getNetwork(h.network).inspect();
  gateway = net.IPAM?.Config?.[0]?.Gateway as string;
  bridge = net.Options?.['com.docker.network.bridge.name'] as string;
  expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
}, 120_000);
afterAll(async () => {
  await run(['daemon', 'stop']);
  await h.cleanup();
  // The suite leaves no rule behind.
  expect(await ours(h.instanceId, 4)).toEqual([]);
  expect(await ours(h.instanceId, 6)).toEqual([]);
});

describe('the host is refused to VMs', () => {
  it('gives the network a stable bridge name that the rules match', () => {
    expect(bridge).toMatch(/^berth[0-9a-f]{10}$/);
  });

  it('a host listener on 0.0.0.0 answers the host and is refused from a VM; host-allow opens exactly that port', async () => {
    const a = await listener('hello-a');
    const b = await listener('hello-b');
    try {
      expect(await fromHost(a.port)).toBe('hello-a');
      for (const address of [gateway, ...hostAddresses()]) {
        const refused = await fromVm(address, a.port);
        expect(refused.out).not.toContain('hello-a');
        expect(refused.out).toMatch(/refused/i);
        expect(refused.code).not.toBe(0);
        expect(refused.ms).toBeLessThan(3000);
      }
      expect(a.remote).toBe(0);

      expect((await run(['config', 'set', 'network.host-allow', `tcp/${a.port}`])).code).toBe(0);
      const applied = FirewallReportSchema.parse(await json(['network', 'apply']));
      expect(applied).toMatchObject({ state: 'ok', bridge });
      expect(applied.changes).not.toEqual([]);
      const opened = await fromVm(gateway, a.port);
      expect(opened.out).toContain('hello-a');
      expect(a.remote).toBe(1);
      const other = await fromVm(gateway, b.port);
      expect(other.out).not.toContain('hello-b');
      expect(other.out).toMatch(/refused/i);
      expect(b.remote).toBe(0);
    } finally {
      a.server.close();
      b.server.close();
      await run(['config', 'unset', 'network.host-allow']);
      expect((await run(['network', 'apply'])).code).toBe(0);
    }
  });

  it('refuses every cloud metadata address and the private ranges by default, in the installed rules (no traffic sent)', async () => {
    const v4 = await ours(h.instanceId, 4);
    const fwd = chainRules(v4, `BERTH-FWD-${h.instanceId}`);
    const fwd6 = chainRules(await ours(h.instanceId, 6), `BERTH-FWD-${h.instanceId}`);
    const refusedBeforeAnyOpening = (rules: string[], refusal: string) => {
      const at = rules.indexOf(refusal);
      expect(at, refusal).toBeGreaterThan(0);
      // Nothing before it lets a new connection through: only replies, DNS to the resolvers and published ports.
      for (const rule of rules.slice(0, at)) expect(rule).toMatch(/ESTABLISHED|--dport 53 |--ctstate DNAT|-j REJECT/);
    };
    const reject4 = '-j REJECT --reject-with icmp-port-unreachable';
    const reject6 = '-j REJECT --reject-with icmp6-port-unreachable';
    // AWS/GCP/Azure/OpenStack/DO IMDS and ECS (link-local), Alibaba, Azure WireServer, Oracle Classic.
    for (const cidr of ['169.254.0.0/16', '100.100.100.200/32', '168.63.129.16/32', '192.0.0.192/32'])
      refusedBeforeAnyOpening(fwd, `-d ${cidr} ${reject4}`);
    // IPv6 link-local, AWS IMDS and EKS Pod Identity, GCP.
    for (const cidr of ['fe80::/10', 'fd00:ec2::254/128', 'fd00:ec2::23/128', 'fd20:ce::254/128'])
      refusedBeforeAnyOpening(fwd6, `-d ${cidr} ${reject6}`);
    // block-private is on by default: the LAN, the VPC and CGNAT.
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'])
      refusedBeforeAnyOpening(fwd, `-d ${cidr} ${reject4}`);
    refusedBeforeAnyOpening(fwd6, `-d fc00::/7 ${reject6}`);
    // The host itself, metadata proxies on it included, on every address and port.
    const input = chainRules(v4, `BERTH-IN-${h.instanceId}`);
    expect(input.slice(-2)).toEqual(['-p tcp -j REJECT --reject-with tcp-reset', '-j REJECT --reject-with icmp-port-unreachable']);
    expect(v4).toContain(`-A INPUT -i ${bridge} -m comment --comment "berth:${h.instanceId}" -j BERTH-IN-${h.instanceId}`);
    expect(v4).toContain(`-A DOCKER-USER -i ${bridge} -m comment --comment "berth:${h.instanceId}" -j BERTH-FWD-${h.instanceId}`);
  });
});

describe('applying the rules', () => {
  it('berth up twice, network apply twice and vm create leave one jump per chain and no duplicate rule', async () => {
    for (let i = 0; i < 2; i++) {
      const up = await run(['up', '--json']);
      expect(up.code, up.stderr).toBe(0);
      expect(JSON.parse(up.stdout).firewall.state).toBe('ok');
    }
    const status = await json<{ components: Array<{ name: string; state: string; detail: string }> }>(['daemon', 'status']);
    expect(status.components.find((c) => c.name === 'firewall')).toMatchObject({ state: 'running' });
    expect((await run(['daemon', 'stop'])).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      const again = FirewallReportSchema.parse(await json(['network', 'apply']));
      expect(again).toMatchObject({ state: 'ok', changes: [] });
    }
    const second = unique('fw');
    expect((await run(['user', 'allow', second])).code).toBe(0);
    expect((await run(['vm', 'create', second])).code).toBe(0);
    for (const family of [4, 6] as const) {
      const lines = await ours(h.instanceId, family);
      expect(new Set(lines).size).toBe(lines.length);
      expect(lines.filter((l) => l.endsWith(`-j BERTH-IN-${h.instanceId}`))).toHaveLength(1);
      expect(lines.filter((l) => l.endsWith(`-j BERTH-FWD-${h.instanceId}`))).toHaveLength(1);
    }
    expect(FirewallReportSchema.parse(await json(['network', 'status'])).state).toBe('ok');
    const doctor = await run(['doctor', '--json']);
    expect(JSON.parse(doctor.stdout).firewall).toMatchObject({ state: 'ok' });
    expect((await run(['vm', 'destroy', second, '--yes'])).code).toBe(0);
  });

  it('block-private and egress none or a list produce the expected rules, after DNS', async () => {
    try {
      for (const [key, value] of [
        ['network.block-private', 'on'],
        ['network.egress', 'none'],
      ]) {
        expect((await run(['config', 'set', key as string, value as string])).code).toBe(0);
      }
      expect(FirewallReportSchema.parse(await json(['network', 'apply'])).state).toBe('ok');
      let fwd = chainRules(await ours(h.instanceId), `BERTH-FWD-${h.instanceId}`);
      const reject = '-j REJECT --reject-with icmp-port-unreachable';
      expect(fwd.slice(-13)).toEqual([
        `-d 169.254.0.0/16 ${reject}`,
        `-d 100.100.100.200/32 ${reject}`,
        `-d 168.63.129.16/32 ${reject}`,
        `-d 192.0.0.192/32 ${reject}`,
        `-d 0.0.0.0/8 ${reject}`,
        `-d 10.0.0.0/8 ${reject}`,
        `-d 100.64.0.0/10 ${reject}`,
        `-d 172.16.0.0/12 ${reject}`,
        `-d 192.0.0.0/24 ${reject}`,
        `-d 192.168.0.0/16 ${reject}`,
        `-d 198.18.0.0/15 ${reject}`,
        `-d 240.0.0.0/4 ${reject}`,
        reject,
      ]);
      // The engine's upstream resolvers stay reachable (they are queried from the VM's namespace, through FORWARD).
      const dns = fwd.filter((r) => r.includes('--dport 53 -j RETURN'));
      expect(dns.length).toBeGreaterThan(0);
      expect(fwd.indexOf(dns[0] as string)).toBeLessThan(fwd.indexOf(`-d 10.0.0.0/8 ${reject}`));
      expect(chainRules(await ours(h.instanceId, 6), `BERTH-FWD-${h.instanceId}`)).toContain(
        '-d fc00::/7 -j REJECT --reject-with icmp6-port-unreachable',
      );

      expect((await run(['config', 'set', 'network.egress', 'tcp/443@203.0.113.0/24,198.51.100.7'])).code).toBe(0);
      expect((await run(['network', 'apply'])).code).toBe(0);
      fwd = chainRules(await ours(h.instanceId), `BERTH-FWD-${h.instanceId}`);
      expect(fwd.slice(-3)).toEqual(['-d 203.0.113.0/24 -p tcp -m tcp --dport 443 -j RETURN', '-d 198.51.100.7/32 -j RETURN', reject]);

      const bad = await run(['config', 'set', 'network.egress', '10.0.0.0/33']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/not an address range/);
    } finally {
      await run(['config', 'unset', 'network.egress']);
      await run(['config', 'unset', 'network.block-private']);
      expect((await run(['network', 'apply'])).code).toBe(0);
    }
    // Unset, block-private is on: the private ranges stay refused, and the internet is let out.
    expect(chainRules(await ours(h.instanceId), `BERTH-FWD-${h.instanceId}`).slice(-2)).toEqual([
      '-d 198.18.0.0/15 -j REJECT --reject-with icmp-port-unreachable',
      '-d 240.0.0.0/4 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it('a LAN range opened with private-allow passes block-private, but the metadata addresses inside it stay refused', async () => {
    const reject = '-j REJECT --reject-with icmp-port-unreachable';
    try {
      const refused = await run(['config', 'set', 'network.private-allow', '8.8.8.0/24']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/not inside a private range/);
      expect((await run(['config', 'set', 'network.private-allow', '192.168.77.0/24,100.64.0.0/10,tcp/3128@10.9.8.7'])).code).toBe(0);
      // Off too, and an egress list that names the metadata ranges: they stay refused.
      expect((await run(['config', 'set', 'network.egress', '169.254.0.0/16,168.63.129.16,tcp/443'])).code).toBe(0);
      const applied = FirewallReportSchema.parse(await json(['network', 'apply']));
      expect(applied.state).toBe('ok');
      expect(applied.detail).toContain('private 192.168.77.0/24,100.64.0.0/10,tcp/3128@10.9.8.7/32 allowed');
      const fwd = chainRules(await ours(h.instanceId), `BERTH-FWD-${h.instanceId}`);
      const at = (rule: string) => {
        const i = fwd.indexOf(rule);
        expect(i, rule).toBeGreaterThan(0);
        return i;
      };
      const opened = ['-d 192.168.77.0/24 -j RETURN', '-d 100.64.0.0/10 -j RETURN', '-d 10.9.8.7/32 -p tcp -m tcp --dport 3128 -j RETURN'];
      for (const rule of opened) {
        for (const metadata of ['169.254.0.0/16', '100.100.100.200/32', '168.63.129.16/32', '192.0.0.192/32'])
          expect(at(`-d ${metadata} ${reject}`)).toBeLessThan(at(rule));
        for (const range of ['10.0.0.0/8', '100.64.0.0/10', '192.168.0.0/16']) expect(at(rule)).toBeLessThan(at(`-d ${range} ${reject}`));
      }
      expect(fwd.slice(-4)).toEqual([
        '-d 169.254.0.0/16 -j RETURN',
        '-d 168.63.129.16/32 -j RETURN',
        '-p tcp -m tcp --dport 443 -j RETURN',
        reject,
      ]);
      expect(at('-d 169.254.0.0/16 -j RETURN')).toBeGreaterThan(at(`-d 169.254.0.0/16 ${reject}`));
    } finally {
      await run(['config', 'unset', 'network.private-allow']);
      await run(['config', 'unset', 'network.egress']);
      expect((await run(['network', 'apply'])).code).toBe(0);
    }
    expect(
      chainRules(await ours(h.instanceId), `BERTH-FWD-${h.instanceId}`).filter(
        (r) => r.endsWith('-j RETURN') && r.includes('-d 192.168.77'),
      ),
    ).toEqual([]);
  });

  it("network remove takes this home's chains and jumps away and nothing else; doctor then reports them missing", async () => {
    const before = (await execa('iptables-save', ['-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith('-A '));
    const removed = await json<{ removed: string[] }>(['network', 'remove']);
    expect(removed.removed.length).toBeGreaterThan(0);
    const after = (await execa('iptables-save', ['-t', 'filter'])).stdout.split('\n').filter((l) => l.startsWith('-A '));
    expect(after).toEqual(before.filter((l) => !l.includes(h.instanceId)));
    const doctor = await run(['doctor', '--json']);
    expect(doctor.code).toBe(1);
    expect(JSON.parse(doctor.stdout)).toMatchObject({ healthy: false, firewall: { state: 'missing' } });
    // Racing applies of one home repair one at a time: still one jump each.
    const applies = await Promise.all([1, 2, 3].map(() => run(['network', 'apply'])));
    for (const a of applies) expect(a.code, a.stderr).toBe(0);
    const lines = await ours(h.instanceId);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.filter((l) => l.endsWith(`-j BERTH-IN-${h.instanceId}`))).toHaveLength(1);
  });
});

describe('without the privileges to change the firewall', () => {
  // CAP_NET_ADMIN out of the bounding set: root still talks to Docker, but iptables is refused.
  const unprivileged = (home: string, args: string[]) =>
    execa('setpriv', ['--bounding-set=-net_admin', '--inh-caps=-net_admin', '--', 'node', BIN, ...args], {
      env: { BERTH_HOME: home, NO_COLOR: '1' },
      reject: false,
      stdin: 'ignore',
    });

  it('doctor, daemon status and vm create say so, and vm create fails closed', async () => {
    const doctor = await unprivileged(h.home, ['doctor', '--json']);
    expect(doctor.exitCode).toBe(1);
    const fw = JSON.parse(doctor.stdout).firewall;
    expect(fw.state).toBe('unavailable');
    expect(fw.detail).toMatch(/No permission to read or change the firewall.*Run berth as root/);

    const user = unique('fw');
    expect((await run(['user', 'allow', user])).code).toBe(0);
    const create = await unprivileged(h.home, ['vm', 'create', user]);
    expect(create.exitCode).toBe(1);
    expect(create.stderr).toMatch(/No permission to read or change the firewall/);
    expect(create.stderr).toMatch(/network\.firewall off/);
    expect(JSON.parse((await run(['vm', 'list', '--all', '--user', user, '--json'])).stdout)).toEqual([]);

    expect((await unprivileged(h.home, ['daemon', 'start'])).exitCode).toBe(0);
    try {
      const status = await json<{ components: Array<{ name: string; state: string; detail: string }> }>(['daemon', 'status']);
      expect(status.components.find((c) => c.name === 'firewall')).toMatchObject({
        state: 'failed',
        detail: expect.stringMatching(/No permission/),
      });
    } finally {
      await run(['daemon', 'stop']);
    }
  });

  it('with network.firewall off, doctor warns and stays healthy otherwise', async () => {
    expect((await run(['config', 'set', 'network.firewall', 'off'])).code).toBe(0);
    try {
      const doctor = await unprivileged(h.home, ['doctor']);
      expect(doctor.stdout).toMatch(/WARN firewall off: network.firewall is off/);
      expect(JSON.parse((await unprivileged(h.home, ['doctor', '--json'])).stdout).firewall.state).toBe('off');
    } finally {
      await run(['config', 'unset', 'network.firewall']);
    }
  });
});

describe('an engine restart', () => {
  let engine: NetnsEngine | null = null;
  let dir = '';
  afterAll(async () => {
    if (engine && dir) await engine.berth(join(dir, 'h'), ['daemon', 'stop']);
    await engine?.stop();
    // Loop devices are not namespaced: the VM's quota disk was attached on this host.
    if (dir) await detachDisksUnder(join(dir, 'h'));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the daemon puts the rules back after the engine restarts; doctor reports them drifted meanwhile', async () => {
    engine = await startNetnsEngine({ images: [MINIMAL_IMAGE] });
    dir = await mkdtemp(join(tmpdir(), 'berth-fw-'));
    const home = join(dir, 'h');
    const ns = engine;
    const b = async (args: string[], env?: Record<string, string>) => {
      const r = await ns.berth(home, args, env);
      expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    await b(['init']);
    await b(['config', 'set', 'image', MINIMAL_IMAGE]);
    const user = unique('fw');
    await b(['user', 'allow', user]);
    // A long interval: only the engine coming back makes the daemon look again.
    await b(['daemon', 'start'], { BERTH_FIREWALL_CHECK_MS: '600000' });
    await b(['vm', 'create', user]);
    const state = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')) as { instanceId: string };
    const id = state.instanceId;
    const rules = () => ours(id, 4, (f, a) => ns.exec(f, a));
    const jump = (await rules()).find((l) => l.startsWith('-A DOCKER-USER ') && l.endsWith(`-j BERTH-FWD-${id}`));
    expect(jump).toBeDefined();

    // What a Docker rewriting its chains does to ours.
    const deleted = await ns.exec(
      'iptables',
      (jump as string)
        .replace(/^-A /, '-D ')
        .split(' ')
        .map((w) => w.replace(/^"|"$/g, '')),
    );
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await rules()).some((l) => l.startsWith('-A DOCKER-USER '))).toBe(false);
    const doctor = await ns.berth(home, ['doctor', '--json']);
    expect(JSON.parse(doctor.stdout).firewall.state).toBe('drifted');
    expect(JSON.parse(doctor.stdout).healthy).toBe(false);

    await ns.restartDocker();
    const log = async () => readFile(join(home, 'logs', 'daemon.log'), 'utf8').catch(() => '');
    await waitFor('the daemon to restore the jump', async () => (await rules()).filter((l) => l === jump).length === 1, 60_000).catch(
      async (err) => {
        throw new Error(`${(err as Error).message}; daemon log:\n${(await log()).split('\n').slice(-15).join('\n')}`);
      },
    );
    const text = await log();
    expect(text).toMatch(/firewall rules were not in place; restored/);
    expect(text).toContain(`DOCKER-USER has no jump to BERTH-FWD-${id}`);
    expect(JSON.parse((await ns.berth(home, ['doctor', '--json'])).stdout).firewall.state).toBe('ok');
    // Nothing went into the host's own firewall.
    expect(await ours(id, 4)).toEqual([]);
  }, 180_000);
});
