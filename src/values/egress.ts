import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';
import { BerthError, invalidInput } from '../errors.js';
import { printable } from './names.js';

let ipaddrLib: typeof IpAddr | undefined;
/** ipaddr.js, loaded on first use (~8 ms of start-up that commands parsing no address skip). */
const ipaddr = (): typeof IpAddr => {
  ipaddrLib ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr;
  return ipaddrLib;
};

/**
 * The egress policy of VMs and the host firewall rules that enforce it. Everything here
 * is pure: the config values are parsed and checked, and turned into the exact lines
 * `iptables-save -t filter` prints, so that installed rules can be compared line by line.
 */

export type Proto = 'tcp' | 'udp';
export type Family = 4 | 6;

/** A protocol and a port range (`tcp/22` is 22–22). */
export interface PortSpec {
  proto: Proto;
  low: number;
  high: number;
}

/** One allowed destination: a range of addresses, a port, or a port at a range. */
export interface EgressEntry {
  cidr: { family: Family; address: string; bits: number } | null;
  port: PortSpec | null;
}

export type EgressPolicy = { mode: 'internet' } | { mode: 'none' } | { mode: 'list'; entries: EgressEntry[] };

export const MAX_HOST_ALLOW = 32;
export const MAX_EGRESS_ENTRIES = 64;
const MAX_TEXT = 4096;

const PORT_SPEC = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/;

function items(input: string, what: string, max: number, example: string): string[] {
  if (input.length > MAX_TEXT) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      `The ${what} list is too long (${input.length} characters).`,
      `Keep it to ${max} entries.`,
    );
  }
  const list = input
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (list.length > max) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      `The ${what} list has ${list.length} entries; at most ${max} are allowed.`,
      `Merge ports into ranges or addresses into wider CIDRs, e.g. ${example}.`,
    );
  }
  return list;
}

export function parsePortSpec(input: string, what: string): PortSpec {
  const m = PORT_SPEC.exec(input);
  const low = Number(m?.[2]);
  const high = m?.[3] === undefined ? low : Number(m[3]);
  if (!m || !(low >= 1 && low <= 65535 && high >= 1 && high <= 65535)) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      `"${printable(input)}" is not a port (${what}).`,
      'Write tcp/PORT, udp/PORT or tcp/LOW-HIGH with ports from 1 to 65535, e.g. tcp/3128.',
    );
  }
  if (low > high) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      `"${printable(input)}" is a range that ends before it starts (${what}).`,
      `Write the lower port first: ${m[1]}/${high}-${low}.`,
    );
  }
  return { proto: m[1] as Proto, low, high };
}

export function formatPortSpec(p: PortSpec): string {
  return p.low === p.high ? `${p.proto}/${p.low}` : `${p.proto}/${p.low}-${p.high}`;
}

/** `network.host-allow`: comma-separated `tcp/PORT`, `udp/PORT`, `tcp/LOW-HIGH`; canonical and deduplicated. */
export function parseHostAllow(input: string): string[] {
  const list = items(input, 'network.host-allow', MAX_HOST_ALLOW, 'tcp/8000-8099');
  return [...new Set(list.map((s) => formatPortSpec(parsePortSpec(s, 'network.host-allow'))))];
}

export function hostAllowPorts(values: readonly string[]): PortSpec[] {
  return values.map((v) => parsePortSpec(v, 'network.host-allow'));
}

function parseCidr(input: string): NonNullable<EgressEntry['cidr']> {
  const bad = () =>
    invalidInput(
      'INVALID_NETWORK_POLICY',
      `"${printable(input)}" is not an address range (network.egress).`,
      'Write an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.0/24 or 2001:db8::/32.',
    );
  const [address = '', bitsText, ...rest] = input.split('/');
  if (rest.length || (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) || address.includes('%')) throw bad();
  if (ipaddr().IPv4.isValidFourPartDecimal(address)) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (bits > 32) throw bad();
    return { family: 4, address: ipaddr().IPv4.networkAddressFromCIDR(`${address}/${bits}`).toString(), bits };
  }
  if (address.includes(':') && ipaddr().IPv6.isValid(address)) {
    const bits = bitsText === undefined ? 128 : Number(bitsText);
    if (bits > 128) throw bad();
    const network = ipaddr().IPv6.networkAddressFromCIDR(`${address}/${bits}`);
    // iptables prints addresses in ::/96 (IPv4-mapped, -compatible) in dotted form: keep to plain IPv4.
    if (bits > 0 && ipaddr().IPv6.parse('::').match(network, 80)) {
      throw invalidInput(
        'INVALID_NETWORK_POLICY',
        `"${printable(input)}" is an IPv4-mapped IPv6 range (network.egress).`,
        'Write the IPv4 range itself, e.g. 203.0.113.0/24.',
      );
    }
    return { family: 6, address: network.toRFC5952String(), bits };
  }
  throw bad();
}

function formatEntry(e: EgressEntry): string {
  const cidr = e.cidr ? `${e.cidr.address}/${e.cidr.bits}` : '';
  if (e.port && e.cidr) return `${formatPortSpec(e.port)}@${cidr}`;
  return e.port ? formatPortSpec(e.port) : cidr;
}

function parseEntry(text: string): EgressEntry {
  const at = text.indexOf('@');
  if (at >= 0) return { port: parsePortSpec(text.slice(0, at), 'network.egress'), cidr: parseCidr(text.slice(at + 1)) };
  if (/^(tcp|udp)\//.test(text)) return { port: parsePortSpec(text, 'network.egress'), cidr: null };
  return { port: null, cidr: parseCidr(text) };
}

/**
 * `network.egress`: `internet` (all allowed but what is always refused), `none`, or a
 * comma-separated list of `CIDR` (any port there), `PROTO/PORT[-HIGH]` (that port anywhere)
 * and `PROTO/PORT[-HIGH]@CIDR` (that port there).
 */
export function parseEgress(input: string): string[] {
  const text = input.trim().toLowerCase();
  if (text === 'internet' || text === 'none') return [text];
  const list = items(text, 'network.egress', MAX_EGRESS_ENTRIES, '203.0.113.0/24');
  if (list.length === 0) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      'network.egress cannot be empty.',
      'Use internet, none, or a list such as tcp/443,203.0.113.0/24.',
    );
  }
  if (list.some((s) => s === 'internet' || s === 'none')) {
    throw invalidInput(
      'INVALID_NETWORK_POLICY',
      'internet and none stand alone in network.egress.',
      'Set either internet, none, or a list of destinations.',
    );
  }
  return [...new Set(list.map((s) => formatEntry(parseEntry(s))))];
}

export function egressPolicy(values: readonly string[]): EgressPolicy {
  if (values.length === 1 && (values[0] === 'internet' || values[0] === 'none')) return { mode: values[0] };
  if (values.length === 0) return { mode: 'internet' };
  return { mode: 'list', entries: values.map(parseEntry) };
}

export const MAX_PRIVATE_ALLOW = 32;

/** Whether a range lies wholly inside one that `network.block-private` refuses. */
function insidePrivate(c: NonNullable<EgressEntry['cidr']>): boolean {
  return PRIVATE_RANGES[c.family].some((r) => {
    const [range, bits] = ipaddr().parseCIDR(r);
    return c.bits >= bits && ipaddr().parse(c.address).match(range, bits);
  });
}

/**
 * `network.private-allow`: private destinations VMs may reach although `network.block-private`
 * refuses private ranges (a LAN proxy, a VPC database): comma-separated `CIDR` (any port) and
 * `PROTO/PORT[-HIGH]@CIDR`, each inside a private range. Empty: none.
 */
export function parsePrivateAllow(input: string): string[] {
  const list = items(input, 'network.private-allow', MAX_PRIVATE_ALLOW, '192.168.1.0/24');
  return [
    ...new Set(
      list.map((text) => {
        const entry = parseEntry(text);
        if (!entry.cidr) {
          throw invalidInput(
            'INVALID_NETWORK_POLICY',
            `"${printable(text)}" names no address range (network.private-allow).`,
            'Write CIDR or PROTO/PORT@CIDR, e.g. 192.168.1.0/24 or tcp/3128@192.168.1.10.',
          );
        }
        if (!insidePrivate(entry.cidr)) {
          throw invalidInput(
            'INVALID_NETWORK_POLICY',
            `"${printable(text)}" is not inside a private range (network.private-allow).`,
            `network.egress decides public destinations; private ones are ${[...PRIVATE_RANGES[4], ...PRIVATE_RANGES[6]].join(', ')}.`,
          );
        }
        return formatEntry(entry);
      }),
    ),
  ];
}

export function privateAllowEntries(values: readonly string[]): EgressEntry[] {
  return values.map(parseEntry);
}

// --- rules ---

export function chainNames(instanceId: string): { input: string; forward: string } {
  return { input: `BERTH-IN-${instanceId}`, forward: `BERTH-FWD-${instanceId}` };
}

/**
 * Cloud metadata and platform services: refused from VMs whatever the configuration
 * (block-private off, an egress or private-allow entry that covers them). Only DNS to the
 * host's own resolvers (port 53, e.g. Azure's 168.63.129.16 or GCP's 169.254.169.254) comes
 * before them. The security model (docs/security.md) names each.
 */
export const PLATFORM_RANGES: Record<Family, ReadonlyArray<{ cidr: string; whose: string }>> = {
  4: [
    {
      cidr: '169.254.0.0/16',
      whose:
        'link-local: the instance metadata service of AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle Cloud and others (169.254.169.254), AWS ECS task metadata (169.254.170.2), EKS Pod Identity (169.254.170.23), Tencent Cloud (169.254.0.23), Scaleway (169.254.42.42)',
    },
    { cidr: '100.100.100.200/32', whose: 'Alibaba Cloud instance metadata' },
    { cidr: '168.63.129.16/32', whose: 'Azure WireServer (VM agent, extensions, health probes)' },
    { cidr: '192.0.0.192/32', whose: 'Oracle Cloud Infrastructure Classic instance metadata' },
  ],
  6: [
    { cidr: 'fe80::/10', whose: 'IPv6 link-local' },
    { cidr: 'fd00:ec2::254/128', whose: 'AWS instance metadata over IPv6' },
    { cidr: 'fd00:ec2::23/128', whose: 'AWS EKS Pod Identity Agent over IPv6' },
    { cidr: 'fd20:ce::254/128', whose: 'Google Cloud metadata server over IPv6' },
  ],
};

/** What `network.block-private` refuses (on by default): ranges that are no one's public address. */
export const PRIVATE_RANGES: Record<Family, string[]> = {
  4: [
    '0.0.0.0/8', // "this network"
    '10.0.0.0/8', // RFC 1918
    '100.64.0.0/10', // CGNAT (RFC 6598): carrier NAT, Tailscale, Alibaba Cloud's services
    '172.16.0.0/12', // RFC 1918
    '192.0.0.0/24', // IETF protocol assignments
    '192.168.0.0/16', // RFC 1918
    '198.18.0.0/15', // benchmarking, used as private space by some networks
    '240.0.0.0/4', // reserved
  ],
  6: [
    '64:ff9b:1::/48', // local-use NAT64 (RFC 8215): translates to private IPv4
    'fc00::/7', // unique local addresses
    'fec0::/10', // site-local (deprecated, still routed on some networks)
  ],
};

export interface FirewallInput {
  instanceId: string;
  bridge: string;
  hostAllow: PortSpec[];
  egress: EgressPolicy;
  blockPrivate: boolean;
  /** `network.private-allow`: private destinations VMs may reach anyway (after the platform refusals). */
  privateAllow?: EgressEntry[];
  /** The upstream resolvers the engine's embedded DNS forwards to (see services/firewall.ts). */
  resolvers: string[];
  /** Where forwarded traffic is caught: DOCKER-USER when Docker made it, else FORWARD. */
  forwardHook: Record<Family, 'DOCKER-USER' | 'FORWARD'>;
  /**
   * Addresses refused on every port whatever the egress policy: on Swarm, every node's (a VM
   * reaches no node's host services, its own node's refused through INPUT as well).
   */
  refused?: string[];
}

export interface FamilyPlan {
  family: Family;
  instanceId: string;
  /** Our chains and their rules, each line as iptables-save prints it (`-A CHAIN …`). */
  chains: Array<{ name: string; rules: string[] }>;
  /** The jumps into our chains, as iptables-save prints them. */
  jumps: Array<{ chain: string; rule: string }>;
}

function addressOf(ip: string): { family: Family; text: string } | null {
  if (ipaddr().IPv4.isValidFourPartDecimal(ip)) return { family: 4, text: ip };
  if (ip.includes(':') && ipaddr().IPv6.isValid(ip) && !ip.includes('%'))
    return { family: 6, text: ipaddr().IPv6.parse(ip).toRFC5952String() };
  return null;
}

function dport(p: PortSpec): string {
  return p.low === p.high ? String(p.low) : `${p.low}:${p.high}`;
}

function cidrText(c: NonNullable<EgressEntry['cidr']>): string {
  return `${c.address}/${c.bits}`;
}

/** The match of an egress or private-allow entry, as iptables-save prints it (with a trailing space). */
function entryMatch(e: EgressEntry): string {
  const to = e.cidr && e.cidr.bits > 0 ? `-d ${cidrText(e.cidr)} ` : '';
  const port = e.port ? `-p ${e.port.proto} -m ${e.port.proto} --dport ${dport(e.port)} ` : '';
  return `${to}${port}`;
}

const BRIDGE = /^[a-zA-Z0-9_.-]{1,15}$/;

export function familyPlan(input: FirewallInput, family: Family): FamilyPlan {
  // Both go into rule text: nothing but a plain interface name and berth's own id.
  if (!BRIDGE.test(input.bridge)) {
    throw new BerthError(
      'FIREWALL_BAD_BRIDGE',
      `The network's bridge name "${printable(input.bridge)}" is not an interface name.`,
      'Point berth config docker.network at a new name; berth creates it with a proper bridge.',
    );
  }
  if (!/^[0-9a-f]{12}$/.test(input.instanceId)) {
    throw new BerthError('FIREWALL_BAD_INSTANCE', 'The state file has no valid instance id.', 'Run berth doctor.');
  }
  const { input: IN, forward: FWD } = chainNames(input.instanceId);
  const unreachable = family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
  const reject = `-j REJECT --reject-with ${unreachable}`;
  const established = '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN';
  const host = family === 4 ? 32 : 128;
  const resolvers = [
    ...new Set(
      input.resolvers
        .map(addressOf)
        .filter((a) => a?.family === family)
        .map((a) => a?.text as string),
    ),
  ];
  const dns = resolvers.flatMap((r) => [
    `-d ${r}/${host} -p udp -m udp --dport 53 -j RETURN`,
    `-d ${r}/${host} -p tcp -m tcp --dport 53 -j RETURN`,
  ]);

  const inRules = [
    established,
    // A resolver that is one of the host's own addresses is reached through INPUT.
    ...dns,
    ...input.hostAllow.map((p) => `-p ${p.proto} -m ${p.proto} --dport ${dport(p)} -j RETURN`),
    '-p tcp -j REJECT --reject-with tcp-reset',
    reject,
  ];

  const fwdRules = [
    established,
    ...dns,
    // A VM connecting to a host address on a port Docker publishes is DNATed to that container
    // and forwarded, not delivered to INPUT: the same host-allow applies.
    ...input.hostAllow.map((p) => `-p ${p.proto} -m conntrack --ctstate DNAT -m conntrack --ctorigdstport ${dport(p)} -j RETURN`),
    `-m conntrack --ctstate DNAT ${reject}`,
    ...[
      ...new Set(
        (input.refused ?? [])
          .map(addressOf)
          .filter((a) => a?.family === family)
          .map((a) => a?.text as string),
      ),
    ].map((a) => `-d ${a}/${host} ${reject}`),
    ...PLATFORM_RANGES[family].map((r) => `-d ${r.cidr} ${reject}`),
    ...(input.privateAllow ?? []).filter((e) => e.cidr?.family === family).map((e) => `${entryMatch(e)}-j RETURN`),
    ...(input.blockPrivate ? PRIVATE_RANGES[family].map((r) => `-d ${r} ${reject}`) : []),
  ];
  if (input.egress.mode === 'none') fwdRules.push(reject);
  if (input.egress.mode === 'list') {
    for (const e of input.egress.entries) {
      if (e.cidr && e.cidr.family !== family) continue;
      fwdRules.push(`${entryMatch(e)}-j RETURN`);
    }
    fwdRules.push(reject);
  }

  const comment = `-m comment --comment "berth:${input.instanceId}"`;
  const hook = input.forwardHook[family];
  return {
    family,
    instanceId: input.instanceId,
    chains: [
      { name: IN, rules: inRules.map((r) => `-A ${IN} ${r}`) },
      { name: FWD, rules: fwdRules.map((r) => `-A ${FWD} ${r}`) },
    ],
    jumps: [
      { chain: 'INPUT', rule: `-A INPUT -i ${input.bridge} ${comment} -j ${IN}` },
      { chain: hook, rule: `-A ${hook} -i ${input.bridge} ${comment} -j ${FWD}` },
    ],
  };
}

// --- what is installed, and how to get from there to the plan ---

/** The filter table as iptables-save prints it: chain names and each chain's rules in order. */
export interface FilterTable {
  chains: Set<string>;
  rules: Map<string, string[]>;
}

export function parseFilterTable(save: string): FilterTable {
  const chains = new Set<string>();
  const rules = new Map<string, string[]>();
  let inFilter = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inFilter = line.trim() === '*filter';
    if (!inFilter) continue;
    const chain = /^:(\S+) /.exec(line);
    if (chain?.[1]) {
      chains.add(chain[1]);
      if (!rules.has(chain[1])) rules.set(chain[1], []);
      continue;
    }
    const rule = /^-A (\S+) /.exec(line);
    if (rule?.[1]) {
      const list = rules.get(rule[1]) ?? [];
      list.push(line.trimEnd());
      rules.set(rule[1], list);
    }
  }
  return { chains, rules };
}

/** Jumps into this instance's chains, wherever they are (an old bridge's included). */
function ourJumps(table: FilterTable, instanceId: string): Array<{ chain: string; rule: string }> {
  const { input: IN, forward: FWD } = chainNames(instanceId);
  const out: Array<{ chain: string; rule: string }> = [];
  for (const [chain, list] of table.rules) {
    if (chain === IN || chain === FWD) continue;
    for (const rule of list) if (rule.endsWith(` -j ${IN}`) || rule.endsWith(` -j ${FWD}`)) out.push({ chain, rule });
  }
  return out;
}

export interface FamilyCheck {
  state: 'ok' | 'missing' | 'drifted';
  problems: string[];
}

export function checkFamily(plan: FamilyPlan, table: FilterTable, tool: string): FamilyCheck {
  const problems: string[] = [];
  let present = 0;
  for (const chain of plan.chains) {
    if (!table.chains.has(chain.name)) {
      problems.push(`${tool}: chain ${chain.name} is missing`);
      continue;
    }
    present++;
    const installed = table.rules.get(chain.name) ?? [];
    if (installed.join('\n') !== chain.rules.join('\n')) {
      problems.push(`${tool}: chain ${chain.name} differs from the policy (${installed.length} rules, ${chain.rules.length} expected)`);
    }
  }
  for (const jump of plan.jumps) {
    const list = table.rules.get(jump.chain) ?? [];
    const at = list.indexOf(jump.rule);
    const copies = list.filter((r) => r === jump.rule).length;
    if (copies === 0) {
      problems.push(`${tool}: ${jump.chain} has no jump to ${jump.rule.split(' -j ')[1]}`);
      continue;
    }
    present++;
    if (copies > 1) problems.push(`${tool}: ${jump.chain} jumps to ${jump.rule.split(' -j ')[1]} ${copies} times`);
    // Our jump comes before anything that is not berth's (another home's jumps may share the top).
    if (list.slice(0, at).some((r) => !r.includes('--comment "berth:'))) {
      problems.push(`${tool}: ${jump.chain} has other rules before the jump to ${jump.rule.split(' -j ')[1]}`);
    }
  }
  const wanted = new Set(plan.jumps.map((j) => `${j.chain} ${j.rule}`));
  for (const j of ourJumps(table, plan.instanceId)) {
    if (!wanted.has(`${j.chain} ${j.rule}`)) problems.push(`${tool}: stale jump in ${j.chain}: ${j.rule}`);
  }
  if (problems.length === 0) return { state: 'ok', problems };
  return { state: present === 0 ? 'missing' : 'drifted', problems };
}

/**
 * An `iptables-restore --noflush` script that makes this family match the plan in one
 * transaction: our chains declared (which flushes them) and refilled, every jump into them
 * deleted (duplicates and old bridges' included) and the planned ones inserted at the top.
 */
export function restoreScript(plan: FamilyPlan, table: FilterTable): string {
  const lines = ['*filter'];
  for (const chain of plan.chains) lines.push(`:${chain.name} - [0:0]`);
  for (const j of ourJumps(table, plan.instanceId)) lines.push(j.rule.replace(/^-A /, '-D '));
  for (const chain of plan.chains) lines.push(...chain.rules);
  // One jump per hook chain, each inserted at the top of its chain.
  for (const j of plan.jumps) lines.push(j.rule.replace(/^-A (\S+) /, '-I $1 1 '));
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** A script that removes this instance's chains and every jump into them; null when there are none. */
export function removalScript(instanceId: string, table: FilterTable): string | null {
  const { input: IN, forward: FWD } = chainNames(instanceId);
  const jumps = ourJumps(table, instanceId);
  const chains = [IN, FWD].filter((c) => table.chains.has(c));
  if (jumps.length === 0 && chains.length === 0) return null;
  const lines = ['*filter', ...jumps.map((j) => j.rule.replace(/^-A /, '-D '))];
  for (const c of chains) lines.push(`-F ${c}`);
  for (const c of chains) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}
