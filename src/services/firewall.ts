import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LABEL } from '../docker/labels.js';
import type { DockerRuntime } from '../docker/runtime.js';
import { BerthError } from '../errors.js';
import { FirewallUnavailable, nftTables, restoreFilter, saveFilter, toolName } from '../host/firewall.js';
import { type ConfigValues, effectiveConfig } from '../values/config-keys.js';
import {
  chainNames,
  checkFamily,
  egressPolicy,
  type FamilyPlan,
  type FilterTable,
  familyPlan,
  hostAllowPorts,
  parseFilterTable,
  removalScript,
  restoreScript,
} from '../values/egress.js';
import type { Berth } from './context.js';

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
  const nameservers = async (path: string) =>
    (await readFile(path, 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => Boolean(ip));
  const notLoopback = (ips: string[]) => ips.filter((ip) => !/^127\./.test(ip) && ip !== '::1');
  const host = await nameservers('/etc/resolv.conf');
  let upstream = notLoopback(host);
  if (upstream.length === 0 && host.length > 0) upstream = notLoopback(await nameservers('/run/systemd/resolve/resolv.conf'));
  return upstream.length ? upstream : ['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844'];
}

interface Tables {
  4: FilterTable;
  6: FilterTable | null;
  notes: string[];
}

async function readTables(): Promise<Tables> {
  const v4 = parseFilterTable(await saveFilter(4));
  try {
    return { 4: v4, 6: parseFilterTable(await saveFilter(6)), notes: [] };
  } catch (err) {
    // Without IPv6 in the kernel (or without ip6tables) there is no IPv6 traffic to filter.
    if (err instanceof FirewallUnavailable && err.reason !== 'no-privilege')
      return { 4: v4, 6: null, notes: [`IPv6 rules skipped: ${err.message}`] };
    throw err;
  }
}

/** Docker's nftables firewall backend makes no DOCKER-USER chain in iptables; berth does not drive nft. */
async function unsupportedBackend(tables: Tables): Promise<boolean> {
  if (tables[4].chains.has('DOCKER-USER')) return false;
  return (await nftTables())?.some((t) => /(^|\s)docker-bridges$/.test(t)) ?? false;
}

function plans(cfg: ConfigValues, instanceId: string, bridge: string, resolvers: string[], tables: Tables): FamilyPlan[] {
  const input = {
    instanceId,
    bridge,
    hostAllow: hostAllowPorts(cfg['network.host-allow']),
    egress: egressPolicy(cfg['network.egress']),
    blockPrivate: cfg['network.block-private'],
    resolvers,
    forwardHook: {
      4: tables[4].chains.has('DOCKER-USER') ? ('DOCKER-USER' as const) : ('FORWARD' as const),
      6: tables[6]?.chains.has('DOCKER-USER') ? ('DOCKER-USER' as const) : ('FORWARD' as const),
    },
  };
  return ([4, 6] as const).filter((f) => tables[f] !== null).map((f) => familyPlan(input, f));
}

function summary(cfg: ConfigValues, bridge: string): string {
  const allow = cfg['network.host-allow'];
  return `bridge ${bridge}: host ${allow.length ? `refused but ${allow.join(',')}` : 'refused'}, link-local refused, egress ${cfg['network.egress'].join(',')}${cfg['network.block-private'] ? ', private ranges refused' : ''}`;
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
    await engine.ensureNetwork(name, { [LABEL.managed]: 'true' }, cfg.engine === 'swarm' ? 'swarm' : 'local');
    network = await engine.network(name);
  }
  if (!network) throw new BerthError('NETWORK_MISSING', `The Docker network ${name} could not be made.`, 'Run berth doctor.');
  const resolvers = await engineResolvers();
  const first = await readTables();
  if (await unsupportedBackend(first)) throw unsupportedError();
  if (check(plans(cfg, state.instanceId, network.bridge, resolvers, first), first).state === 'ok') {
    return report(cfg, state.instanceId, { state: 'ok', detail: okDetail(cfg, network.bridge, first), bridge: network.bridge });
  }
  // Two berth processes of one home (the daemon, racing creates) repair one at a time.
  const unlock = await lockFirewall(ctx.store.home);
  try {
    return await repair(cfg, state.instanceId, network.bridge, resolvers);
  } finally {
    await unlock().catch(() => undefined);
  }
}

function okDetail(cfg: ConfigValues, bridge: string, tables: Tables): string {
  return `${summary(cfg, bridge)}${tables.notes.length ? `; ${tables.notes.join('; ')}` : ''}`;
}

async function lockFirewall(home: string): Promise<() => Promise<void>> {
  const { default: lockfile } = await import('proper-lockfile');
  // Keyed by its own path: proper-lockfile keeps one lock per path in a process, and the daemon holds `home`.
  return lockfile
    .lock(join(home, 'firewall'), {
      realpath: false,
      lockfilePath: join(home, 'firewall.lock'),
      stale: 20_000,
      update: 4000,
      retries: { retries: 300, factor: 1.2, minTimeout: 10, maxTimeout: 100, randomize: true },
    })
    .catch((err) => {
      throw new BerthError(
        'FIREWALL_LOCKED',
        `Another berth process has held ${join(home, 'firewall.lock')} for too long (${(err as Error).message}).`,
        'Try again; if no berth process is running, remove that file.',
      );
    });
}

async function repair(cfg: ConfigValues, instanceId: string, bridge: string, resolvers: string[]): Promise<FirewallReport> {
  const before: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const tables = await readTables();
    if (await unsupportedBackend(tables)) throw unsupportedError();
    const list = plans(cfg, instanceId, bridge, resolvers, tables);
    const status = check(list, tables);
    if (status.state === 'ok') {
      return report(cfg, instanceId, {
        state: 'ok',
        detail: okDetail(cfg, bridge, tables),
        bridge,
        problems: before,
        changes: before.length ? [`rewrote the rules (${before.length} problem(s) fixed)`] : [],
      });
    }
    if (attempt > 3) {
      throw new FirewallUnavailable(`The firewall rules did not stay in place: ${status.problems.join('; ')}`, 'failed');
    }
    if (before.length === 0) before.push(...status.problems);
    try {
      for (const plan of list) {
        const table = tables[plan.family] as FilterTable;
        if (checkFamily(plan, table, toolName(plan.family)).state !== 'ok') await restoreFilter(plan.family, restoreScript(plan, table));
      }
    } catch (err) {
      // Another berth process may have changed the same rules in between: read again and retry.
      if (!(err instanceof FirewallUnavailable) || err.reason !== 'failed' || attempt === 3) throw err;
    }
  }
}

function unsupportedError(): BerthError {
  return new BerthError(
    'FIREWALL_UNSUPPORTED',
    "Docker uses its nftables firewall backend here (table docker-bridges, no DOCKER-USER chain); berth's rules need the iptables backend.",
    'Run dockerd with firewall-backend iptables, or run without isolation: berth config set network.firewall off',
  );
}

/** How the installed rules compare with the policy; never changes anything. */
export async function firewallStatus(ctx: Berth): Promise<FirewallReport> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  if (!cfg['network.firewall']) return report(cfg, state.instanceId, { state: 'off', detail: OFF_DETAIL });
  const network = await (await ctx.runtime()).network(cfg['docker.network']);
  if (!network) {
    return report(cfg, state.instanceId, {
      state: 'missing',
      detail: `missing network: ${cfg['docker.network']} does not exist yet (berth up or berth network apply makes it and its rules)`,
    });
  }
  let tables: Tables;
  try {
    tables = await readTables();
  } catch (err) {
    if (!(err instanceof FirewallUnavailable)) throw err;
    return report(cfg, state.instanceId, { state: 'unavailable', detail: `${err.message} ${err.hint}`, bridge: network.bridge });
  }
  if (await unsupportedBackend(tables)) {
    const err = unsupportedError();
    return report(cfg, state.instanceId, { state: 'unsupported', detail: `${err.message} ${err.hint}`, bridge: network.bridge });
  }
  const status = check(plans(cfg, state.instanceId, network.bridge, await engineResolvers(), tables), tables);
  return report(cfg, state.instanceId, {
    state: status.state,
    detail:
      status.state === 'ok'
        ? summary(cfg, network.bridge)
        : `rules ${status.state}: ${status.problems.slice(0, 3).join('; ')}${status.problems.length > 3 ? '; …' : ''} (berth network apply)`,
    bridge: network.bridge,
    problems: status.problems,
  });
}

/** Removes this home's chains and every jump into them, in both families. */
export async function removeFirewall(ctx: Berth): Promise<{ removed: string[] }> {
  return removeFirewallRules((await ctx.store.read()).instanceId);
}

/** The same by instance id (also what the tests clean up with); never touches another id's rules. */
export async function removeFirewallRules(instanceId: string): Promise<{ removed: string[] }> {
  const tables = await readTables();
  const removed: string[] = [];
  for (const family of [4, 6] as const) {
    const table = tables[family];
    if (!table) continue;
    const script = removalScript(instanceId, table);
    if (!script) continue;
    await restoreFilter(family, script);
    removed.push(
      ...script
        .split('\n')
        .filter((l) => /^-[DX] /.test(l))
        .map((l) => `${toolName(family)} ${l}`),
    );
  }
  return { removed };
}
