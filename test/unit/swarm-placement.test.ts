import { describe, expect, it } from 'vitest';
import type { SwarmNode } from '../../src/docker/swarm.js';
import { BerthError } from '../../src/errors.js';
import { nodesToPrepare, type PlacementFacts, placeVm } from '../../src/services/engine/placement.js';
import type { NodeDefaults, Vm } from '../../src/state/schema.js';

const fit: NodeDefaults = { noNewPrivileges: true, seccomp: true, apparmor: null, checkedAt: '2026-12-07T00:00:00Z' };
const node = (id: string, extra: Partial<SwarmNode> = {}): SwarmNode => ({
  id,
  hostname: `host-${id}`,
  role: id === 'm' ? 'manager' : 'worker',
  state: 'ready',
  availability: 'active',
  addr: '192.168.250.1',
  leader: id === 'm',
  cpus: 2,
  memoryBytes: 2 ** 31,
  generic: {},
  ...extra,
});
const vm = (gpu: number | 'all' = 0): Vm => ({ id: 'v1', user: 'alice', name: 'main', resources: { gpu } }) as unknown as Vm;

/** A manager `m` and workers `a`, `b`: all fit and reachable unless a row says otherwise. */
function facts(
  change: Partial<PlacementFacts> & { entries?: Record<string, { endpoint?: string; drained?: boolean }> } = {},
): PlacementFacts {
  const nodes = change.nodes ?? [node('m'), node('a'), node('b')];
  const entries = change.entries ?? { a: { endpoint: 'tcp://a' }, b: { endpoint: 'tcp://b' } };
  return {
    nodes,
    self: 'm',
    homeNode: change.homeNode,
    defaults: change.defaults ?? new Map(nodes.map((n) => [n.id, fit])),
    state: {
      vms: change.state?.vms ?? [],
      nodes: Object.entries(entries).map(([id, e]) => ({ id, hostname: `host-${id}`, endpoint: e.endpoint ?? '', drained: e.drained })),
    },
  };
}
const none = () => ({ noNetwork: new Set<string>(), firewallFailed: new Map<string, BerthError>() });
const refused = (code: string, message: string) => new BerthError(code as 'NODE_FIREWALL_FAILED', message, 'fix it');

describe('where a VM may go on a Swarm (decided from facts alone)', () => {
  it.each([
    ['every node fit: all are prepared', facts(), ['m', 'a', 'b']],
    ['a node berth cannot reach (no endpoint) is not', facts({ entries: { a: { endpoint: 'tcp://a' } } }), ['m', 'a']],
    ['a drained node is not', facts({ entries: { a: { endpoint: 'tcp://a', drained: true }, b: { endpoint: 'tcp://b' } } }), ['m', 'b']],
    [
      'a node whose daemon lacks the defaults is not',
      facts({
        defaults: new Map([
          ['m', fit],
          ['a', fit],
        ]),
      }),
      ['m', 'a'],
    ],
    ['a node that is down is not', facts({ nodes: [node('m'), node('a', { state: 'down' }), node('b')] }), ['m', 'b']],
    ['with a home on a node: only that node', facts({ homeNode: 'b' }), ['b']],
    [
      'with a home on a drained node: that node still (its VM goes back there)',
      facts({ homeNode: 'b', entries: { a: { endpoint: 'tcp://a' }, b: { endpoint: 'tcp://b', drained: true } } }),
      ['b'],
    ],
  ])('%s', (_what, f, expected) => {
    expect(nodesToPrepare(f).map((n) => n.id)).toEqual(expected);
  });

  it.each([
    ['all fit and prepared: no node excluded', facts(), none(), []],
    ['a node without the network is excluded', facts(), { ...none(), noNetwork: new Set(['a']) }, ['node.id!=a']],
    [
      'a drained node is excluded',
      facts({ entries: { a: { endpoint: 'tcp://a', drained: true }, b: { endpoint: 'tcp://b' } } }),
      none(),
      ['node.id!=a'],
    ],
    [
      'a node whose firewall failed is excluded',
      facts(),
      { ...none(), firewallFailed: new Map([['b', refused('NODE_FIREWALL_FAILED', 'rules on b')]]) },
      ['node.id!=b'],
    ],
    ['a home on a node pins the VM there', facts({ homeNode: 'a' }), none(), ['node.id==a']],
  ])('%s', (_what, f, prepared, constraints) => {
    expect(placeVm(f, vm(), prepared).constraints).toEqual(constraints);
  });

  it.each([
    [
      "the home's node failed its firewall rules: that error",
      facts({ homeNode: 'a' }),
      { ...none(), firewallFailed: new Map([['a', refused('NODE_FIREWALL_FAILED', 'rules on a')]]) },
      /rules on a/,
    ],
    [
      'nowhere to go and firewall rules are why: the firewall error, not Swarm’s',
      facts({ nodes: [node('m', { state: 'down' }), node('a')] }),
      { ...none(), firewallFailed: new Map([['a', refused('NODE_FIREWALL_FAILED', 'rules on a')]]) },
      /rules on a/,
    ],
    [
      "the home's node lacks the defaults: NODE_UNFIT, saying what is missing",
      facts({
        homeNode: 'a',
        defaults: new Map([
          ['m', fit],
          ['a', { ...fit, seccomp: false }],
        ]),
      }),
      none(),
      /home of VM alice\/main is on node a.*seccomp/,
    ],
  ])('refuses: %s', (_what, f, prepared, message) => {
    expect(() => placeVm(f, vm(), prepared)).toThrow(message);
  });

  it('GPUs: a VM no candidate node could hold is refused before anything is made, with each node’s room', () => {
    const nodes = [node('m'), node('a', { generic: { GPU: 1 } }), node('b', { generic: { GPU: 2 } })];
    expect(placeVm(facts({ nodes }), vm(2), none())).toMatchObject({ gpus: 2, gpuRoom: 'host-m 0/0, host-a 0/1, host-b 0/2' });
    const err = (() => {
      try {
        placeVm(facts({ nodes }), vm(3), none());
      } catch (e) {
        return e as BerthError;
      }
    })();
    expect(err?.code).toBe('NO_NODE_FITS');
    expect(err?.message).toMatch(/reserves 3 GPU\(s\), and no node that may take it advertises that many .*host-b 0\/2/);
    // Only the home's node counts when the VM has one.
    expect(() => placeVm(facts({ nodes, homeNode: 'a' }), vm(2), none())).toThrow(/host-a 0\/1\)/);
    // `all` GPUs reserve none on Swarm (refused earlier, by the plan check).
    expect(placeVm(facts({ nodes }), vm('all'), none()).gpus).toBe(0);
  });
});
