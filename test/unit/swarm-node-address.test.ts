import { describe, expect, it } from 'vitest';
import { nodeOf } from '../../src/docker/swarm.js';
import { nodeAddresses } from '../../src/services/network/firewall.js';

// Every node's address is refused from every VM (src/values/egress.ts `refused`): a manager whose
// Status.Addr reads 0.0.0.0 (as Docker gives for some managers) is found by its ManagerStatus.Addr.
const raw = (status: string, manager?: string) => ({
  ID: 'n1',
  Description: { Hostname: 'h', Resources: { NanoCPUs: 2e9, MemoryBytes: 2 ** 30 } },
  Spec: { Role: manager ? 'manager' : 'worker', Availability: 'active' },
  Status: { State: 'ready', Addr: status },
  ...(manager ? { ManagerStatus: { Addr: manager, Leader: true } } : {}),
});

describe("a Swarm node's address", () => {
  it("is its Status.Addr, or a manager's ManagerStatus.Addr host when that reads 0.0.0.0", () => {
    expect(nodeOf(raw('10.0.0.12') as never).addr).toBe('10.0.0.12');
    expect(nodeOf(raw('0.0.0.0', '10.0.0.11:2377') as never).addr).toBe('10.0.0.11');
    expect(nodeOf(raw('0.0.0.0', '[fd00::11]:2377') as never).addr).toBe('fd00::11');
  });

  it('is refused for every node that has one; none of 0.0.0.0', () => {
    const nodes = [raw('0.0.0.0', '10.0.0.11:2377'), raw('10.0.0.12'), raw('0.0.0.0')].map((n) => nodeOf(n as never));
    expect(nodeAddresses(nodes)).toEqual(['10.0.0.11', '10.0.0.12']);
    // The hosts of engine endpoints that are addresses too (a node may answer its engine elsewhere).
    expect(nodeAddresses(nodes, ['tcp://10.0.0.13:2376', 'ssh://berth@worker-1', 'unix:///run/x.sock', 'tcp://[fd00::14]:2376'])).toEqual([
      '10.0.0.11',
      '10.0.0.12',
      '10.0.0.13',
      'fd00::14',
    ]);
  });
});
