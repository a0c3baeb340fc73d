import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import {
  checkFamily,
  egressPolicy,
  type FirewallInput,
  familyPlan,
  hostAllowPorts,
  PLATFORM_RANGES,
  parseEgress,
  parseFilterTable,
  parseHostAllow,
  parsePrivateAllow,
  privateAllowEntries,
  removalScript,
  restoreScript,
} from '../../src/values/egress.js';

function refusal(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.usage).toBe(true);
    expect(e.code).toBe('INVALID_NETWORK_POLICY');
    expect(e.hint.length).toBeGreaterThan(5);
    return e;
  }
  throw new Error('expected a refusal');
}

const ID = '0123456789ab';
const input = (over: Partial<FirewallInput> = {}): FirewallInput => ({
  instanceId: ID,
  bridge: 'berth0123456789',
  hostAllow: [],
  egress: { mode: 'internet' },
  blockPrivate: false,
  resolvers: ['10.255.255.53'],
  forwardHook: { 4: 'DOCKER-USER', 6: 'FORWARD' },
  ...over,
});

describe('network.host-allow', () => {
  it('reads ports and ranges, canonical and without duplicates', () => {
    expect(parseHostAllow('tcp/3128, udp/53 TCP/3128,tcp/8000-8099')).toEqual(['tcp/3128', 'udp/53', 'tcp/8000-8099']);
    expect(parseHostAllow('  ')).toEqual([]);
    expect(parseHostAllow('tcp/22-22')).toEqual(['tcp/22']);
    expect(hostAllowPorts(['tcp/8000-8099'])).toEqual([{ proto: 'tcp', low: 8000, high: 8099 }]);
  });
  it.each([
    'tcp/0',
    'tcp/65536',
    'tcp/22;rm',
    'tcp/22;rm -rf /',
    'icmp/1',
    '22',
    'tcp/',
    'tcp/-1',
    'tcp/1-',
    'tcp/99999999',
    'tcp/22\n-A INPUT -j ACCEPT',
    'tcp/0x16',
    'sctp/22',
  ])('refuses %j', (text) => {
    expect(refusal(() => parseHostAllow(text)).message).toMatch(/not a port/);
  });
  it('refuses a range that ends before it starts, saying how to write it', () => {
    expect(refusal(() => parseHostAllow('tcp/9000-8000')).hint).toMatch(/tcp\/8000-9000/);
  });
  it('bounds the list', () => {
    const many = Array.from({ length: 33 }, (_, i) => `tcp/${1000 + i}`).join(',');
    expect(refusal(() => parseHostAllow(many)).message).toMatch(/33 entries; at most 32/);
    expect(refusal(() => parseHostAllow('tcp/1,'.repeat(5000))).message).toMatch(/too long/);
  });
});

describe('network.egress', () => {
  it('reads internet, none and lists of CIDRs and ports', () => {
    expect(parseEgress('internet')).toEqual(['internet']);
    expect(parseEgress(' NONE ')).toEqual(['none']);
    expect(parseEgress('203.0.113.7, 198.51.100.0/24,tcp/443, udp/123@192.0.2.0/24, 2001:DB8:0:0::/32, tcp/80@2001:db8::1')).toEqual([
      '203.0.113.7/32',
      '198.51.100.0/24',
      'tcp/443',
      'udp/123@192.0.2.0/24',
      '2001:db8::/32',
      'tcp/80@2001:db8::1/128',
    ]);
    // A CIDR with host bits is normalised to its network, as iptables would.
    expect(parseEgress('10.1.2.3/8')).toEqual(['10.0.0.0/8']);
    expect(egressPolicy(['none'])).toEqual({ mode: 'none' });
    expect(egressPolicy(['tcp/443'])).toEqual({ mode: 'list', entries: [{ port: { proto: 'tcp', low: 443, high: 443 }, cidr: null }] });
  });
  it.each([
    '10.0.0.0/33',
    '10.0.0.256',
    '10.0.0',
    '010.0.0.1',
    '0x0a.0.0.1',
    '10.0.0.0/8/8',
    '10.0.0.0/-1',
    'fe80::1%eth0',
    '2001:db8::/129',
    '::ffff:10.0.0.1',
    'example.com',
    '10.0.0.0/8;rm',
    'tcp/443@',
    'tcp/443@nowhere',
    'tcp/0@10.0.0.0/8',
  ])('refuses %j', (text) => {
    refusal(() => parseEgress(text));
  });
  it('refuses an empty list, internet or none mixed into a list, and huge lists', () => {
    expect(refusal(() => parseEgress(',')).message).toMatch(/cannot be empty/);
    expect(refusal(() => parseEgress('internet,tcp/443')).message).toMatch(/stand alone/);
    const many = Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`).join(',');
    expect(refusal(() => parseEgress(many)).message).toMatch(/65 entries; at most 64/);
  });
  it('has config keys with these parsers and safe defaults', () => {
    expect(CONFIG_KEYS['network.egress'].default).toEqual(['internet']);
    expect(CONFIG_KEYS['network.firewall'].default).toBe(true);
    expect(CONFIG_KEYS['network.block-private'].default).toBe(true);
    expect(CONFIG_KEYS['network.private-allow'].default).toEqual([]);
    expect(CONFIG_KEYS['network.host-allow'].parse('tcp/3128')).toEqual(['tcp/3128']);
  });
});

describe('firewall rules', () => {
  it('refuses the host on every port, link-local and published ports, and lets DNS through', () => {
    const plan = familyPlan(input({ hostAllow: hostAllowPorts(['tcp/3128', 'udp/5000-5010']) }), 4);
    expect(plan.jumps).toEqual([
      { chain: 'INPUT', rule: `-A INPUT -i berth0123456789 -m comment --comment "berth:${ID}" -j BERTH-IN-${ID}` },
      { chain: 'DOCKER-USER', rule: `-A DOCKER-USER -i berth0123456789 -m comment --comment "berth:${ID}" -j BERTH-FWD-${ID}` },
    ]);
    expect(plan.chains[0]?.rules).toEqual([
      `-A BERTH-IN-${ID} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A BERTH-IN-${ID} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN`,
      `-A BERTH-IN-${ID} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN`,
      `-A BERTH-IN-${ID} -p tcp -m tcp --dport 3128 -j RETURN`,
      `-A BERTH-IN-${ID} -p udp -m udp --dport 5000:5010 -j RETURN`,
      `-A BERTH-IN-${ID} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A BERTH-IN-${ID} -j REJECT --reject-with icmp-port-unreachable`,
    ]);
    expect(plan.chains[1]?.rules).toEqual([
      `-A BERTH-FWD-${ID} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A BERTH-FWD-${ID} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN`,
      `-A BERTH-FWD-${ID} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN`,
      `-A BERTH-FWD-${ID} -p tcp -m conntrack --ctstate DNAT -m conntrack --ctorigdstport 3128 -j RETURN`,
      `-A BERTH-FWD-${ID} -p udp -m conntrack --ctstate DNAT -m conntrack --ctorigdstport 5000:5010 -j RETURN`,
      `-A BERTH-FWD-${ID} -m conntrack --ctstate DNAT -j REJECT --reject-with icmp-port-unreachable`,
      `-A BERTH-FWD-${ID} -d 169.254.0.0/16 -j REJECT --reject-with icmp-port-unreachable`,
      `-A BERTH-FWD-${ID} -d 100.100.100.200/32 -j REJECT --reject-with icmp-port-unreachable`,
      `-A BERTH-FWD-${ID} -d 168.63.129.16/32 -j REJECT --reject-with icmp-port-unreachable`,
      `-A BERTH-FWD-${ID} -d 192.0.0.192/32 -j REJECT --reject-with icmp-port-unreachable`,
    ]);
  });
  it('IPv6: link-local and ULA, the FORWARD hook, only IPv6 resolvers and destinations', () => {
    const plan = familyPlan(
      input({
        blockPrivate: true,
        resolvers: ['10.255.255.53', '2001:DB8::53'],
        egress: egressPolicy(parseEgress('10.0.0.0/8,tcp/443,2001:db8::/32')),
      }),
      6,
    );
    expect(plan.jumps[1]?.rule).toBe(`-A FORWARD -i berth0123456789 -m comment --comment "berth:${ID}" -j BERTH-FWD-${ID}`);
    expect(plan.chains[1]?.rules.map((r) => r.replace(`-A BERTH-FWD-${ID} `, ''))).toEqual([
      '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-d 2001:db8::53/128 -p udp -m udp --dport 53 -j RETURN',
      '-d 2001:db8::53/128 -p tcp -m tcp --dport 53 -j RETURN',
      '-m conntrack --ctstate DNAT -j REJECT --reject-with icmp6-port-unreachable',
      '-d fe80::/10 -j REJECT --reject-with icmp6-port-unreachable',
      '-d fd00:ec2::254/128 -j REJECT --reject-with icmp6-port-unreachable',
      '-d fd00:ec2::23/128 -j REJECT --reject-with icmp6-port-unreachable',
      '-d fd20:ce::254/128 -j REJECT --reject-with icmp6-port-unreachable',
      '-d 64:ff9b:1::/48 -j REJECT --reject-with icmp6-port-unreachable',
      '-d fc00::/7 -j REJECT --reject-with icmp6-port-unreachable',
      '-d fec0::/10 -j REJECT --reject-with icmp6-port-unreachable',
      '-p tcp -m tcp --dport 443 -j RETURN',
      '-d 2001:db8::/32 -j RETURN',
      '-j REJECT --reject-with icmp6-port-unreachable',
    ]);
  });
  it('block-private and egress none come after DNS, so name resolution keeps working', () => {
    const rules = familyPlan(input({ blockPrivate: true, egress: { mode: 'none' } }), 4).chains[1]?.rules ?? [];
    const text = rules.map((r) => r.replace(`-A BERTH-FWD-${ID} `, ''));
    expect(text.slice(-9)).toEqual([
      '-d 0.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable',
      '-d 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable',
      '-d 100.64.0.0/10 -j REJECT --reject-with icmp-port-unreachable',
      '-d 172.16.0.0/12 -j REJECT --reject-with icmp-port-unreachable',
      '-d 192.0.0.0/24 -j REJECT --reject-with icmp-port-unreachable',
      '-d 192.168.0.0/16 -j REJECT --reject-with icmp-port-unreachable',
      '-d 198.18.0.0/15 -j REJECT --reject-with icmp-port-unreachable',
      '-d 240.0.0.0/4 -j REJECT --reject-with icmp-port-unreachable',
      '-j REJECT --reject-with icmp-port-unreachable',
    ]);
    expect(text.indexOf('-d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN')).toBeLessThan(
      text.indexOf('-d 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable'),
    );
  });
  it('refuses a bridge or instance id that would inject rules', () => {
    expect(() => familyPlan(input({ bridge: 'br0 -j ACCEPT' }), 4)).toThrow(/not an interface name/);
    expect(() => familyPlan(input({ bridge: 'br0\n-A INPUT' }), 4)).toThrow(/not an interface name/);
    expect(() => familyPlan(input({ instanceId: 'x -j ACCEPT' }), 4)).toThrow(/instance id/);
  });
});

describe('installed rules against the plan', () => {
  const plan = familyPlan(input(), 4);
  const save = (extra: string[]) =>
    ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':DOCKER-USER - [0:0]', ...extra, 'COMMIT'].join('\n');
  const installed = [
    `:BERTH-IN-${ID} - [0:0]`,
    `:BERTH-FWD-${ID} - [0:0]`,
    ...plan.jumps.map((j) => j.rule),
    ...plan.chains.flatMap((c) => c.rules),
    '-A DOCKER-USER -j RETURN',
  ];
  it('is ok when exactly in place, and missing when nothing is', () => {
    expect(checkFamily(plan, parseFilterTable(save(installed)), 'iptables')).toEqual({ state: 'ok', problems: [] });
    expect(checkFamily(plan, parseFilterTable(save([])), 'iptables').state).toBe('missing');
  });
  it('finds a removed jump, a duplicate jump, an edited chain, a jump below another rule and an old bridge', () => {
    const cases: Array<[string[], RegExp]> = [
      [installed.filter((l) => !l.startsWith('-A DOCKER-USER -i')), /DOCKER-USER has no jump/],
      [[...installed, plan.jumps[0]?.rule as string], /INPUT jumps to BERTH-IN-\S+ 2 times/],
      [installed.filter((l) => !l.includes('169.254')), /BERTH-FWD-\S+ differs/],
      [['-A INPUT -j ACCEPT', ...installed], /INPUT has other rules before the jump/],
      [[...installed, `-A INPUT -i br-0ld -m comment --comment "berth:${ID}" -j BERTH-IN-${ID}`], /stale jump in INPUT/],
    ];
    for (const [lines, problem] of cases) {
      const check = checkFamily(plan, parseFilterTable(save(lines)), 'iptables');
      expect(check.state).toBe('drifted');
      expect(check.problems.join('\n')).toMatch(problem);
    }
  });
  it("repairs in one script that deletes every jump of ours and never names another instance's chains", () => {
    const other = `-A INPUT -i berthffffffffff -m comment --comment "berth:ffffffffffff" -j BERTH-IN-ffffffffffff`;
    const table = parseFilterTable(save([...installed, plan.jumps[0]?.rule as string, other, ':BERTH-IN-ffffffffffff - [0:0]']));
    const script = restoreScript(plan, table);
    expect(script.split('\n').filter((l) => l.startsWith('-D INPUT'))).toHaveLength(2);
    expect(script.split('\n').filter((l) => l.startsWith('-I '))).toEqual(plan.jumps.map((j) => j.rule.replace(/^-A (\S+) /, '-I $1 1 ')));
    expect(script).not.toContain('ffffffffffff');
    const removal = removalScript(ID, table) ?? '';
    expect(removal).toContain(`-X BERTH-IN-${ID}`);
    expect(removal).not.toContain('ffffffffffff');
    expect(removalScript('aaaaaaaaaaaa', table)).toBeNull();
  });
});

describe('network.private-allow', () => {
  it('reads private ranges, with or without a port, canonical and without duplicates', () => {
    expect(parsePrivateAllow('192.168.1.7/24, tcp/3128@10.0.0.5,FD12:3456::/48,192.168.1.0/24')).toEqual([
      '192.168.1.0/24',
      'tcp/3128@10.0.0.5/32',
      'fd12:3456::/48',
    ]);
    expect(parsePrivateAllow(' ')).toEqual([]);
    expect(CONFIG_KEYS['network.private-allow'].parse('100.64.0.0/10')).toEqual(['100.64.0.0/10']);
  });
  it.each([
    ['8.8.8.8', /not inside a private range/],
    ['10.0.0.0/7', /not inside a private range/],
    ['2001:db8::/32', /not inside a private range/],
    ['169.254.169.254', /not inside a private range/],
    ['tcp/443', /names no address range/],
    ['internet', /not an address range/],
    ['192.168.1.0/24;rm', /not an address range/],
  ])('refuses %j', (text, message) => {
    expect(refusal(() => parsePrivateAllow(text)).message).toMatch(message);
  });
});

/**
 * What the forward chain does to a VM's new connection: the first rule that matches decides
 * (RETURN hands it back to Docker, which forwards it); replies and DNATed connections aside.
 */
function verdict(plan: ReturnType<typeof familyPlan>, to: string, proto: 'tcp' | 'udp', port: number): 'allowed' | 'refused' {
  const address = ipaddr.parse(to);
  for (const line of plan.chains[1]?.rules ?? []) {
    if (line.includes('--ctstate')) continue;
    const d = / -d (\S+)/.exec(line)?.[1];
    if (d) {
      const [range, bits] = ipaddr.parseCIDR(d);
      if (range.kind() !== address.kind() || !address.match(range, bits)) continue;
    }
    const p = / -p (tcp|udp)/.exec(line)?.[1];
    if (p && p !== proto) continue;
    const dp = / --dport (\d+)(?::(\d+))?/.exec(line);
    if (dp && (port < Number(dp[1]) || port > Number(dp[2] ?? dp[1]))) continue;
    return line.endsWith('-j RETURN') ? 'allowed' : 'refused';
  }
  return 'allowed';
}

describe('what a VM may reach (the forward chain, evaluated)', () => {
  const METADATA: Array<[string, 'tcp' | 'udp', number]> = [
    ['169.254.169.254', 'tcp', 80], // AWS, GCP, Azure, OpenStack, DigitalOcean, OCI IMDS
    ['169.254.170.2', 'tcp', 80], // AWS ECS task metadata
    ['169.254.0.23', 'tcp', 80], // Tencent Cloud
    ['100.100.100.200', 'tcp', 80], // Alibaba Cloud
    ['168.63.129.16', 'tcp', 80], // Azure WireServer
    ['168.63.129.16', 'tcp', 32526],
    ['192.0.0.192', 'tcp', 80], // Oracle Cloud Classic
    ['fd00:ec2::254', 'tcp', 80], // AWS IMDS over IPv6
    ['fd20:ce::254', 'tcp', 80], // GCP over IPv6
    ['fe80::1', 'tcp', 80],
  ];
  const PRIVATE = ['10.1.2.3', '172.20.0.5', '192.168.1.10', '100.64.1.1', '198.18.0.1', '0.1.2.3', 'fd12:3456::1', 'fec0::1'];
  const familyOf = (to: string) => (ipaddr.parse(to).kind() === 'ipv4' ? 4 : 6);
  const reach = (over: Partial<FirewallInput>, to: string, proto: 'tcp' | 'udp' = 'tcp', port = 443) =>
    verdict(familyPlan(input(over), familyOf(to)), to, proto, port);
  const defaults = { blockPrivate: CONFIG_KEYS['network.block-private'].default };
  const opened = {
    ...defaults,
    privateAllow: privateAllowEntries(parsePrivateAllow('100.64.0.0/10,192.168.1.0/24,fd00::/8')),
    egress: egressPolicy(parseEgress('169.254.0.0/16,168.63.129.16,192.0.0.0/24,fd00::/8,fe80::/10,tcp/80')),
  };
  const cases: Array<[string, Partial<FirewallInput>, string, 'tcp' | 'udp', number, 'allowed' | 'refused']> = [
    ...METADATA.map(([to, p, port]) => ['defaults', defaults, to, p, port, 'refused'] as const),
    ...METADATA.map(([to, p, port]) => ['block-private off', { blockPrivate: false }, to, p, port, 'refused'] as const),
    ...METADATA.map(([to, p, port]) => ['private-allow and egress entries over them', opened, to, p, port, 'refused'] as const),
    ...PRIVATE.map((to) => ['defaults', defaults, to, 'tcp', 443, 'refused'] as const),
    ...PRIVATE.map((to) => ['block-private off', { blockPrivate: false }, to, 'tcp', 443, 'allowed'] as const),
    ['defaults', defaults, '203.0.113.5', 'tcp', 443, 'allowed'],
    ['defaults', defaults, '2001:db8::1', 'tcp', 443, 'allowed'],
    ['private-allow 192.168.1.0/24', opened, '192.168.1.10', 'tcp', 22, 'allowed'],
    ['private-allow 192.168.1.0/24', opened, '192.168.2.10', 'tcp', 80, 'refused'],
    ['private-allow 100.64.0.0/10', opened, '100.64.5.5', 'tcp', 80, 'allowed'],
    ['private-allow fd00::/8', opened, 'fd00:ec2::1', 'tcp', 80, 'allowed'],
    ...(['tcp/3128', 'udp/3128'] as const).map(
      (p) =>
        [
          'egress none, private-allow tcp/3128@192.168.1.10',
          { ...defaults, egress: { mode: 'none' as const }, privateAllow: privateAllowEntries(['tcp/3128@192.168.1.10/32']) },
          '192.168.1.10',
          p.slice(0, 3) as 'tcp' | 'udp',
          3128,
          p === 'tcp/3128' ? 'allowed' : 'refused',
        ] as const,
    ),
    ['egress none', { ...defaults, egress: { mode: 'none' } }, '203.0.113.5', 'tcp', 443, 'refused'],
    // The host's resolver may be a platform address (Azure's DNS is 168.63.129.16, GCP's 169.254.169.254): port 53 only.
    ['resolver 168.63.129.16', { ...defaults, resolvers: ['168.63.129.16'] }, '168.63.129.16', 'udp', 53, 'allowed'],
    ['resolver 168.63.129.16', { ...defaults, resolvers: ['168.63.129.16'] }, '168.63.129.16', 'tcp', 80, 'refused'],
    ['resolver 169.254.169.254', { ...defaults, resolvers: ['169.254.169.254'] }, '169.254.169.254', 'tcp', 53, 'allowed'],
    ['resolver 169.254.169.254', { ...defaults, resolvers: ['169.254.169.254'] }, '169.254.169.254', 'tcp', 80, 'refused'],
    ['resolver 10.255.255.53', defaults, '10.255.255.53', 'udp', 53, 'allowed'],
    ['resolver 10.255.255.53', defaults, '10.255.255.53', 'tcp', 22, 'refused'],
    // On Swarm a node's address stays refused though private-allow covers it.
    ['Swarm node in private-allow', { ...opened, refused: ['192.168.1.11'] }, '192.168.1.11', 'tcp', 22, 'refused'],
  ];
  it.each(cases)('%s: %s %s/%i is %s', (_name, over, to, proto, port, expected) => {
    expect(reach(over, to, proto, port)).toBe(expected);
  });

  it('the security model (docs/security.md) names every address refused whatever the configuration, with whose it is', () => {
    const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    const model = doc.slice(doc.indexOf('## Network isolation'));
    expect(model.length).toBeLessThan(doc.length);
    for (const { cidr } of [...PLATFORM_RANGES[4], ...PLATFORM_RANGES[6]]) {
      const named = `\`${cidr.replace(/\/(32|128)$/, '')}\``;
      expect(model.includes(named), `docs/security.md's network isolation names ${named}`).toBe(true);
    }
  });
});
