import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/tui/app.js';
import { FakeSource, nodeRow, vmRow } from './fake-source.js';

afterEach(() => cleanup());

function open(source: FakeSource, width = 120) {
  const app = render(<App source={source} refreshMs={40} colour={false} width={width} height={24} />);
  const frame = () => app.lastFrame() ?? '';
  const waitFor = async (test: (frame: string) => boolean, what: string) => {
    for (let i = 0; i < 100; i++) {
      if (test(frame())) return frame();
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the screen never showed ${what}:\n${frame()}`);
  };
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      app.stdin.write(key);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const row = (text: string) =>
    frame()
      .split('\n')
      .find((l) => l.includes(text)) ?? '';
  return { frame, waitFor, press, row };
}

/** A Swarm of a manager and two workers, the second one's engine not answering. */
function swarm(): FakeSource {
  const source = new FakeSource({
    vms: [
      vmRow('alice', 'main', { node: 'id-mgr', nodeName: 'mgr' }),
      vmRow('bob', 'main', { node: 'id-w2', nodeName: 'w2', state: 'node-down', cpuPercent: null, memoryUsedBytes: null }),
    ],
  });
  source.nodes = [
    nodeRow('mgr', { role: 'manager', leader: true, engine: 'unix:///var/run/docker.sock' }),
    nodeRow('w1', { vms: 0, reserved: { cpus: 0, memoryBytes: 0, memory: '0', gpus: 0 }, drained: true, acceptsVms: false }),
    nodeRow('w2', {
      state: 'down',
      engineState: 'down',
      cpus: 4,
      memoryBytes: 8 * 1024 ** 3,
      reserved: { cpus: 2, memoryBytes: 4 * 1024 ** 3, memory: '4g', gpus: 0 },
    }),
  ];
  return source;
}

describe('berth tui on a Swarm', () => {
  it("the VMs table has a NODE column with each VM's node; a VM whose node does not answer is marked node-down", async () => {
    const ui = open(swarm());
    await ui.waitFor((f) => f.includes('bob'), 'the VMs');
    expect(ui.frame()).toMatch(/USER\s+VM\s+NODE\s+PLAN\s+STATE/);
    expect(ui.row('alice')).toMatch(/alice\s+main\s+mgr\s+basic\s+running/);
    expect(ui.row('bob')).toMatch(/bob\s+main\s+✗ w2\s+basic\s+node-down/);
    expect(ui.frame()).toContain('6 Nodes');
  });

  it('the Nodes tab lists role, state, engine, availability, drained, VMs and what they reserve of each node', async () => {
    const ui = open(swarm());
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    await ui.press('6');
    await ui.waitFor((f) => f.includes('[6 Nodes]'), 'the Nodes tab');
    expect(ui.frame()).toMatch(/NODE\s+ROLE\s+STATE\s+ENGINE\s+AVAIL\s+DRAINED\s+VMS\s+CPU\s+RAM\s+NEW VMS/);
    expect(ui.row('mgr')).toMatch(/mgr\s+leader\s+ready\s+ok\s+active\s+–\s+1\s+1\/8\s+1G\/16G\s+yes/);
    expect(ui.row('w1')).toMatch(/w1\s+worker\s+ready\s+ok\s+active\s+drained\s+0\s+0\/8\s+0M\/16G\s+no/);
    expect(ui.row('w2')).toMatch(/w2\s+worker\s+down\s+down\s+active\s+–\s+1\s+2\/4\s+4G\/8G\s+yes/);
    // The filter works here as on the other tabs.
    await ui.press('/', 'w', '2', '\r');
    await ui.waitFor((f) => !f.includes('mgr ') && f.includes('w2'), 'the filtered nodes');
  });

  it('on one engine there is no NODE column and no Nodes tab (6 is Apps); 7 does nothing', async () => {
    const source = new FakeSource();
    const ui = open(source);
    await ui.waitFor((f) => f.includes('alice'), 'the VMs');
    expect(ui.frame()).toMatch(/USER\s+VM\s+PLAN\s+STATE/);
    expect(ui.frame()).not.toContain('NODE');
    expect(ui.frame()).not.toContain('Nodes');
    expect(ui.frame()).toContain(' 6 Apps ');
    await ui.press('7');
    await new Promise((r) => setTimeout(r, 100));
    expect(ui.frame()).toContain('[1 VMs]');
    // Tab cycles through the six tabs only.
    await ui.press('\t', '\t', '\t', '\t', '\t', '\t');
    await ui.waitFor((f) => f.includes('[1 VMs]'), 'back on the VMs tab');
  });

  it('opened on the Nodes tab while the engine is a local one, it says so', async () => {
    const source = new FakeSource();
    const app = render(<App source={source} refreshMs={40} colour={false} width={140} height={24} initial={{ tab: 'Nodes' }} />);
    for (let i = 0; i < 100 && !(app.lastFrame() ?? '').includes('local engine'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(app.lastFrame()).toContain('local engine');
  });
});
