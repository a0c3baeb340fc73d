import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type IpAddr from 'ipaddr.js';
import { LABEL } from '../../docker/labels.js';
import { configNetworkName, type DockerRuntime } from '../../docker/runtime.js';
import type { SwarmNode } from '../../docker/swarm.js';
import { BerthError } from '../../errors.js';
import {
  FIREWALL_TOOLS,
  FirewallUnavailable,
  firewallToolError,
  LOCK_WAIT_S,
  nftTables,
  restoreFilter,
  saveFilter,
  toolName,
} from '../../host/firewall.js';
import type { State } from '../../state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import {
  chainNames,
  checkFamily,
  egressPolicy,
  type FamilyPlan,
  type FilterTable,
  familyPlan,
  hostAllowPorts,
  parseFilterTable,
  privateAllowEntries,
  removalScript,
  restoreScript,
} from '../../values/egress.js';
import type { Berth } from '../core/context.js';

let ipaddrLib: typeof IpAddr | undefined;
/** ipaddr.js, loaded on first use (~8 ms of start-up that commands parsing no address skip). */
const ipaddr = (): typeof IpAddr => {
  ipaddrLib ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr;
  return ipaddrLib;
};

export type FirewallState = 'ok' | 'missing' | 'drifted' | 'unavailable' | 'off' | 'unsupported';

export interface FirewallReport {
  state: FirewallState;
  /** One line for a person: what is enforced, or what is wrong. */
  detail: string;
  network: string;
  bridge: string | null;
  chains: string[];
  /** What differs from the policy (status), or what was wrong before it was fixed (apply). */
  problems: string[];
  /** What apply changed; empty when the rules were already in place. */
  changes: string[];
  /** On Swarm: the node (hostname) these rules are on; absent for this host. */
  node?: string;
  /** Its Swarm id. */
  nodeId?: string;
}

/**
 * The upstream resolvers of the engine's embedded DNS (127.0.0.11 in a VM). Docker 20.10 takes
 * them from the host's /etc/resolv.conf, or systemd-resolved's file when that lists only
 * 127.0.0.53, drops loopback ones and falls back to Google's when none is left. Measured on
 * Docker 20.10.24: the embedded DNS sends its upstream queries from the container's network
 * namespace, so they leave through the bridge and cross FORWARD (DOCKER-USER), not OUTPUT;
 * they must be let through before `block-private` and `egress none` refuse them.
 */
export async function engineResolvers(): Promise<string[]> {
  return resolversFrom(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), () =>
    readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => ''),
  );
}

/** The same from a host's two files' text (the second read only when the first lists loopback ones alone). */
async function resolversFrom(resolvConf: string, resolved: () => Promise<string>): Promise<string[]> {
  const nameservers = (text: string) =>
    text
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => Boolean(ip));
  const notLoopback = (ips: string[]) => ips.filter((ip) => !/^127\./.test(ip) && ip !== '::1');
  const host = nameservers(resolvConf);
  let upstream = notLoopback(host);
  if (upstream.length === 0 && host.length > 0) upstream = notLoopback(nameservers(await resolved()));
  return upstream.length ? upstream : ['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844'];
}

interface Tables {
  4: FilterTable;
  6: FilterTable | null;
  notes: string[];
}

/**
 * Where rules are read and written: this host (its own tools), or a Swarm node, through a
 * throw-away container on its engine that runs the node's own tools (DockerRuntime.runHostTool).
 */
export interface FirewallSite {
  /** In messages: "this host", "node NAME". */
  where: string;
  /** The node's hostname; absent for this host. */
  node?: string;
  /** Part of the lock file's name: one repair at a time per site. */
  key: string;
  tables(): Promise<Tables>;
  nftTables(): Promise<string[] | null>;
  resolvers(): Promise<string[]>;
  restore(family: 4 | 6, script: string): Promise<void>;
}

/** What ip6tables says on a kernel without IPv6 (or without its filter table). */
const NO_IPV6 = /address family|not supported|does not exist|insmod|can't initiali[sz]e/i;

function tablesOf(v4: string, v6: () => string): Tables {
  const four = parseFilterTable(v4);
  try {
    return { 4: four, 6: parseFilterTable(v6()), notes: [] };
  } catch (err) {
    // Without IPv6 in the kernel (or without ip6tables) there is no IPv6 traffic to filter; any
    // other failure (a cut snapshot, a tool that broke) fails closed.
    if (err instanceof FirewallUnavailable && (err.reason === 'no-tool' || NO_IPV6.test(err.message)))
      return { 4: four, 6: null, notes: [`IPv6 rules skipped: ${err.message}`] };
    throw err;
  }
}

const hostSite: FirewallSite = {
  where: 'this host',
  key: '',
  tables: async () => {
    const v4 = await saveFilter(4);
    const v6 = await saveFilter(6).then(
      (text) => () => text,
      (err: unknown) => () => {
        throw err;
      },
    );
    return tablesOf(v4, v6);
  },
  nftTables,
  resolvers: engineResolvers,
  restore: restoreFilter,
};

/** How long one run of a node's firewall tools may take (its container made, run and removed). */
const NODE_TOOL_MS = 30_000;

/** Reads, in one container run, all a node's firewall check needs: sections on stdout and stderr. */
const NODE_READ = `for part in v4 v6 nft resolv resolved; do
  case $part in
    v4) set -- ${FIREWALL_TOOLS[4].save} -t filter ;;
    v6) set -- ${FIREWALL_TOOLS[6].save} -t filter ;;
    nft) set -- nft list tables ;;
    resolv) set -- cat /etc/resolv.conf ;;
    resolved) set -- cat /run/systemd/resolve/resolv.conf ;;
  esac
  echo "@@begin $part"; echo "@@begin $part" >&2
  "$@"; rc=$?
  echo; echo "@@end $part $rc"; echo "@@end $part" >&2
done`;

interface Section {
  rc: number;
  out: string;
  err: string;
}

function sections(stdout: string, stderr: string): Map<string, Section> {
  const found = new Map<string, Section>();
  for (const m of stdout.matchAll(/@@begin (\w+)\n([\s\S]*?)\n@@end \1 (\d+)\n/g))
    found.set(m[1] as string, { rc: Number(m[3]), out: m[2] as string, err: '' });
  for (const m of stderr.matchAll(/@@begin (\w+)\n([\s\S]*?)@@end \1\n/g)) {
    const section = found.get(m[1] as string);
    if (section) section.err = m[2] as string;
  }
  return found;
}

/** The firewall of a Swarm node, changed through its engine (`image`: one every node has, berth's VM image). */
export function nodeSite(
  runtime: DockerRuntime,
  node: Pick<SwarmNode, 'id' | 'hostname'>,
  image: string,
  instanceId: string,
): FirewallSite {
  const where = `node ${node.hostname}`;
  const labels = { [LABEL.managed]: 'true', [LABEL.instance]: instanceId };
  const run = (script: string, args: string[]) =>
    runtime.runHostTool(image, labels, script, args, NODE_TOOL_MS).catch((err: unknown) => {
      throw new FirewallUnavailable(
        `berth could not run its firewall tool container on ${where}: ${err instanceof Error ? err.message : String(err)}`,
        'failed',
      );
    });
  let read: Promise<Map<string, Section>> | null = null;
  const snapshot = () => {
    read ??= run(NODE_READ, []).then((r) => sections(r.stdout, r.stderr));
    read.catch(() => {
      read = null;
    });
    return read;
  };
  const failure = (section: Section | undefined, command: string) =>
    firewallToolError(
      { code: section?.rc === 127 ? 'ENOENT' : undefined, stderr: section?.err ?? 'no answer from the tool container' },
      command,
      where,
    );
  const saved = (all: Map<string, Section>, part: 'v4' | 'v6', family: 4 | 6) => {
    const section = all.get(part);
    if (section?.rc !== 0) throw failure(section, FIREWALL_TOOLS[family].save);
    return section.out;
  };
  return {
    where,
    node: node.hostname,
    key: node.id.replace(/[^a-zA-Z0-9]/g, '').slice(0, 40),
    tables: async () => {
      const all = await snapshot();
      return tablesOf(saved(all, 'v4', 4), () => saved(all, 'v6', 6));
    },
    nftTables: async () => {
      const section = (await snapshot()).get('nft');
      return section?.rc === 0
        ? section.out
            .split('\n')
            .map((l) => l.replace(/^table\s+/, '').trim())
            .filter(Boolean)
        : null;
    },
    resolvers: async () => {
      const all = await snapshot();
      return resolversFrom(all.get('resolv')?.out ?? '', async () => all.get('resolved')?.out ?? '');
    },
    restore: async (family, script) => {
      read = null;
      const command = FIREWALL_TOOLS[family].restore;
      // The script is an argument (one argument holds 128 KiB); berth's are a few hundred lines at most.
      if (Buffer.byteLength(script) > 100_000) throw new FirewallUnavailable(`The firewall script for ${where} is too long.`, 'failed');
      const r = await run('printf \'%s\\n\' "$1" | "$2" --noflush -w "$3"', [script, command, LOCK_WAIT_S]);
      if (r.exitCode !== 0) throw failure({ rc: r.exitCode, out: r.stdout, err: r.stderr }, command);
    },
  };
}

/** Docker's nftables firewall backend makes no DOCKER-USER chain in iptables; berth does not drive nft. */
async function unsupportedBackend(site: FirewallSite, tables: Tables): Promise<boolean> {
  if (tables[4].chains.has('DOCKER-USER')) return false;
  return (await site.nftTables())?.some((t) => /(^|\s)docker-bridges$/.test(t)) ?? false;
}

/** What the rules of one site are made from. */
interface Target {
  site: FirewallSite;
  bridge: string;
  /** Addresses refused on every port (on Swarm: the nodes'). */
  refused: string[];
}

function plans(cfg: ConfigValues, instanceId: string, target: Target, resolvers: string[], tables: Tables): FamilyPlan[] {
  const input = {
    instanceId,
    bridge: target.bridge,
    hostAllow: hostAllowPorts(cfg['network.host-allow']),
    egress: egressPolicy(cfg['network.egress']),
    blockPrivate: cfg['network.block-private'],
    privateAllow: privateAllowEntries(cfg['network.private-allow']),
    resolvers,
    refused: target.refused,
    forwardHook: {
      4: tables[4].chains.has('DOCKER-USER') ? ('DOCKER-USER' as const) : ('FORWARD' as const),
      6: tables[6]?.chains.has('DOCKER-USER') ? ('DOCKER-USER' as const) : ('FORWARD' as const),
    },
  };
  return ([4, 6] as const).filter((f) => tables[f] !== null).map((f) => familyPlan(input, f));
}

function summary(cfg: ConfigValues, target: Pick<Target, 'bridge' | 'refused'>): string {
  const allow = cfg['network.host-allow'];
  return `bridge ${target.bridge}: host ${allow.length ? `refused but ${allow.join(',')}` : 'refused'}, cloud metadata refused${target.refused.length ? `, ${target.refused.length} Swarm node address(es) refused` : ''}${cfg['network.private-allow'].length ? `, private ${cfg['network.private-allow'].join(',')} allowed` : ''}${cfg['network.block-private'] ? ', private ranges refused' : ''}, egress ${cfg['network.egress'].join(',')}`;
}

function report(
  cfg: ConfigValues,
  instanceId: string,
  fields: Partial<FirewallReport> & Pick<FirewallReport, 'state' | 'detail'>,
): FirewallReport {
  const { input, forward } = chainNames(instanceId);
  return { network: cfg['docker.network'], bridge: null, chains: [input, forward], problems: [], changes: [], ...fields };
}

const OFF_DETAIL = 'network.firewall is off: VMs reach the host and the networks around it (berth config set network.firewall on)';

function check(list: FamilyPlan[], tables: Tables): { state: 'ok' | 'missing' | 'drifted'; problems: string[] } {
  const checks = list.map((p) => checkFamily(p, tables[p.family] as FilterTable, toolName(p.family)));
  const problems = checks.flatMap((c) => c.problems);
  const state = checks.every((c) => c.state === 'ok') ? 'ok' : checks.every((c) => c.state === 'missing') ? 'missing' : 'drifted';
  return { state, problems };
}

const endpointsOf = (state: State) => (state.nodes ?? []).map((n) => n.endpoint).filter(Boolean);

/** The other hosts VMs run on (a Swarm's nodes): a VM reaches none of their host services. None with one engine. */
async function peerAddresses(ctx: Berth, runtime: DockerRuntime, state: State): Promise<string[]> {
  return (await ctx.backend()).peerAddresses(runtime, state);
}

/**
 * The addresses the nodes joined with (one that reads 0.0.0.0 is not kept), and the hosts of the
 * engine endpoints berth reaches them at, where those are addresses (tcp://10.0.0.12:2376).
 */
export function nodeAddresses(nodes: SwarmNode[], endpoints: string[] = []): string[] {
  const hosts = endpoints.flatMap((e) => {
    try {
      const host = new URL(e).hostname.replace(/^\[|\]$/g, '');
      return ipaddr().isValid(host) ? [host] : [];
    } catch {
      return [];
    }
  });
  return [...new Set([...nodes.map((n) => n.addr), ...hosts].filter((a) => a && a !== '0.0.0.0' && a !== '::'))].sort();
}

/**
 * Installs this home's rules when they are not exactly in place (idempotent: nothing is
 * written when they are). Fails with FIREWALL_UNAVAILABLE / FIREWALL_UNSUPPORTED when they
 * cannot be, so that callers fail closed; with network.firewall off it does nothing.
 */
export async function ensureFirewall(ctx: Berth, runtime?: DockerRuntime): Promise<FirewallReport> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (!cfg['network.firewall']) return report(cfg, state.instanceId, { state: 'off', detail: OFF_DETAIL });
  const engine = runtime ?? (await ctx.runtime());
  const name = cfg['docker.network'];
  let network = await engine.network(name);
  if (!network) {
    await engine.ensureNetwork(name, { [LABEL.managed]: 'true' }, (await ctx.backend()).networkScope);
    network = await engine.network(name);
  }
  if (!network) throw new BerthError('NETWORK_MISSING', `The Docker network ${name} could not be made.`, 'Run berth doctor.');
  return ensureAt(ctx, cfg, state.instanceId, {
    site: hostSite,
    bridge: network.bridge,
    refused: await peerAddresses(ctx, engine, state),
  });
}

/**
 * The same rules on a Swarm node other than the manager, through its engine: the node's bridge
 * of berth's network (its config network, made when missing), every node's address refused.
 */
export async function ensureNodeFirewall(
  ctx: Berth,
  runtime: DockerRuntime,
  node: Pick<SwarmNode, 'id' | 'hostname'>,
  nodes: SwarmNode[],
): Promise<FirewallReport> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (!cfg['network.firewall']) return report(cfg, state.instanceId, { state: 'off', detail: OFF_DETAIL, node: node.hostname });
  const target = await nodeTarget(cfg, state.instanceId, runtime, node, nodes, endpointsOf(state), true);
  if (!target) {
    throw new BerthError(
      'NETWORK_MISSING',
      `The config network ${configNetworkName(cfg['docker.network'])} could not be made on node ${node.hostname}.`,
      'Run berth node show on it.',
    );
  }
  return { ...(await ensureAt(ctx, cfg, state.instanceId, target)), node: node.hostname };
}

async function nodeTarget(
  cfg: ConfigValues,
  instanceId: string,
  runtime: DockerRuntime,
  node: Pick<SwarmNode, 'id' | 'hostname'>,
  nodes: SwarmNode[],
  endpoints: string[],
  make: boolean,
): Promise<Target | null> {
  const name = cfg['docker.network'];
  if (make) await runtime.ensureConfigNetwork(name, { [LABEL.managed]: 'true' });
  const config = await runtime.network(configNetworkName(name));
  if (!config) return null;
  return { site: nodeSite(runtime, node, cfg.image, instanceId), bridge: config.bridge, refused: nodeAddresses(nodes, endpoints) };
}

async function ensureAt(ctx: Berth, cfg: ConfigValues, instanceId: string, target: Target): Promise<FirewallReport> {
  const { site } = target;
  const resolvers = await site.resolvers();
  const first = await site.tables();
  if (await unsupportedBackend(site, first)) throw unsupportedError(site);
  if (check(plans(cfg, instanceId, target, resolvers, first), first).state === 'ok') {
    return report(cfg, instanceId, { state: 'ok', detail: okDetail(cfg, target, first), bridge: target.bridge });
  }
  // Two berth processes of one home (the daemon, racing creates) repair one at a time.
  const unlock = await lockFirewall(ctx.store.home, site.key);
  try {
    return await repair(cfg, instanceId, target, resolvers);
  } finally {
    await unlock().catch(() => undefined);
  }
}

function okDetail(cfg: ConfigValues, target: Target, tables: Tables): string {
  return `${summary(cfg, target)}${tables.notes.length ? `; ${tables.notes.join('; ')}` : ''}`;
}

async function lockFirewall(home: string, key: string): Promise<() => Promise<void>> {
  const { default: lockfile } = await import('proper-lockfile');
  const name = key ? `firewall-${key}` : 'firewall';
  // Keyed by its own path: proper-lockfile keeps one lock per path in a process, and the daemon holds `home`.
  return lockfile
    .lock(join(home, name), {
      realpath: false,
      lockfilePath: join(home, `${name}.lock`),
      stale: 20_000,
      update: 4000,
      retries: { retries: 300, factor: 1.2, minTimeout: 10, maxTimeout: 100, randomize: true },
    })
    .catch((err) => {
      throw new BerthError(
        'FIREWALL_LOCKED',
        `Another berth process has held ${join(home, `${name}.lock`)} for too long (${(err as Error).message}).`,
        'Try again; if no berth process is running, remove that file.',
      );
    });
}

async function repair(cfg: ConfigValues, instanceId: string, target: Target, resolvers: string[]): Promise<FirewallReport> {
  const { site } = target;
  const before: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const tables = await site.tables();
    if (await unsupportedBackend(site, tables)) throw unsupportedError(site);
    const list = plans(cfg, instanceId, target, resolvers, tables);
    const status = check(list, tables);
    if (status.state === 'ok') {
      return report(cfg, instanceId, {
        state: 'ok',
        detail: okDetail(cfg, target, tables),
        bridge: target.bridge,
        problems: before,
        changes: before.length ? [`rewrote the rules (${before.length} problem(s) fixed)`] : [],
      });
    }
    if (attempt > 3) {
      throw new FirewallUnavailable(`The firewall rules on ${site.where} did not stay in place: ${status.problems.join('; ')}`, 'failed');
    }
    if (before.length === 0) before.push(...status.problems);
    try {
      for (const plan of list) {
        const table = tables[plan.family] as FilterTable;
        if (checkFamily(plan, table, toolName(plan.family)).state !== 'ok') await site.restore(plan.family, restoreScript(plan, table));
      }
    } catch (err) {
      // Another berth process may have changed the same rules in between: read again and retry.
      if (!(err instanceof FirewallUnavailable) || err.reason !== 'failed' || attempt === 3) throw err;
    }
  }
}

function unsupportedError(site: FirewallSite): BerthError {
  return new BerthError(
    'FIREWALL_UNSUPPORTED',
    `Docker uses its nftables firewall backend on ${site.where} (table docker-bridges, no DOCKER-USER chain); berth's rules need the iptables backend.`,
    'Run dockerd with firewall-backend iptables, or run without isolation: berth config set network.firewall off',
  );
}

/** How the installed rules compare with the policy; never changes anything. */
export async function firewallStatus(ctx: Berth): Promise<FirewallReport> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (!cfg['network.firewall']) return report(cfg, state.instanceId, { state: 'off', detail: OFF_DETAIL });
  const runtime = await ctx.runtime();
  const network = await runtime.network(cfg['docker.network']);
  if (!network) {
    return report(cfg, state.instanceId, {
      state: 'missing',
      detail: `missing network: ${cfg['docker.network']} does not exist yet (berth up or berth network apply makes it and its rules)`,
    });
  }
  return statusAt(cfg, state.instanceId, {
    site: hostSite,
    bridge: network.bridge,
    refused: await peerAddresses(ctx, runtime, state),
  });
}

/** The same for a Swarm node (through its engine). */
export async function nodeFirewallStatus(
  ctx: Berth,
  runtime: DockerRuntime,
  node: Pick<SwarmNode, 'id' | 'hostname'>,
  nodes: SwarmNode[],
): Promise<FirewallReport> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (!cfg['network.firewall']) return report(cfg, state.instanceId, { state: 'off', detail: OFF_DETAIL, node: node.hostname });
  const target = await nodeTarget(cfg, state.instanceId, runtime, node, nodes, endpointsOf(state), false);
  if (!target) {
    return report(cfg, state.instanceId, {
      state: 'missing',
      node: node.hostname,
      detail: `missing network: node ${node.hostname} has no ${configNetworkName(cfg['docker.network'])} yet (berth network apply makes it and its rules)`,
    });
  }
  return { ...(await statusAt(cfg, state.instanceId, target)), node: node.hostname };
}

async function statusAt(cfg: ConfigValues, instanceId: string, target: Target): Promise<FirewallReport> {
  let tables: Tables;
  try {
    tables = await target.site.tables();
  } catch (err) {
    if (!(err instanceof FirewallUnavailable)) throw err;
    return report(cfg, instanceId, { state: 'unavailable', detail: `${err.message} ${err.hint}`, bridge: target.bridge });
  }
  if (await unsupportedBackend(target.site, tables)) {
    const err = unsupportedError(target.site);
    return report(cfg, instanceId, { state: 'unsupported', detail: `${err.message} ${err.hint}`, bridge: target.bridge });
  }
  const status = check(plans(cfg, instanceId, target, await target.site.resolvers(), tables), tables);
  return report(cfg, instanceId, {
    state: status.state,
    detail:
      status.state === 'ok'
        ? summary(cfg, target)
        : `rules ${status.state}: ${status.problems.slice(0, 3).join('; ')}${status.problems.length > 3 ? '; …' : ''} (berth network apply)`,
    bridge: target.bridge,
    problems: status.problems,
  });
}

/** Removes this home's chains and every jump into them, in both families. */
export async function removeFirewall(ctx: Berth): Promise<{ removed: string[] }> {
  return removeFirewallRules((await ctx.store.read()).instanceId);
}

/** The same on a Swarm node, through its engine. */
export async function removeNodeFirewall(
  ctx: Berth,
  runtime: DockerRuntime,
  node: Pick<SwarmNode, 'id' | 'hostname'>,
): Promise<{ removed: string[] }> {
  const state = await ctx.store.read();
  return removeFirewallRules(state.instanceId, nodeSite(runtime, node, effectiveConfig(state.config).image, state.instanceId));
}

/** The same by instance id (also what the tests clean up with); never touches another id's rules. */
export async function removeFirewallRules(instanceId: string, site: FirewallSite = hostSite): Promise<{ removed: string[] }> {
  const tables = await site.tables();
  const removed: string[] = [];
  for (const family of [4, 6] as const) {
    const table = tables[family];
    if (!table) continue;
    const script = removalScript(instanceId, table);
    if (!script) continue;
    await site.restore(family, script);
    removed.push(
      ...script
        .split('\n')
        .filter((l) => /^-[DX] /.test(l))
        .map((l) => `${site.node ? `${site.node}: ` : ''}${toolName(family)} ${l}`),
    );
  }
  return { removed };
}
