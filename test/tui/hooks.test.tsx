import { Text } from 'ink';
import { cleanup, render } from 'ink-testing-library';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Snapshot, VmRow } from '../../src/tui/data-source.js';
import { useKeyQueue } from '../../src/tui/hooks/use-key-queue.js';
import { useLiveStats } from '../../src/tui/hooks/use-live-stats.js';
import { useLogs } from '../../src/tui/hooks/use-logs.js';
import { type Snapshots, useSnapshots } from '../../src/tui/hooks/use-snapshots.js';
import { useStatus } from '../../src/tui/hooks/use-status.js';
import { FakeSource } from './fake-source.js';

afterEach(() => cleanup());

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(test: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !test(); i++) await pause(10);
  if (!test()) throw new Error(`never: ${what}`);
}

/** A fake berth that counts its snapshots, can hold them (`gate`) or fail them, and says when it was let go. */
class CountingSource extends FakeSource {
  reads = 0;
  closed = 0;
  gate: Promise<void> | null = null;
  failWith: Error | null = null;
  override async snapshot(): Promise<Snapshot> {
    this.reads++;
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    return super.snapshot();
  }
  close() {
    this.closed++;
  }
}

describe('useSnapshots', () => {
  function Probe(props: { source: CountingSource; refreshMs: number; told: string[]; out: { hook?: Snapshots; renders: number } }) {
    const hook = useSnapshots(props.source, {
      refreshMs: props.refreshMs,
      onUnchanged: () => props.told.push('unchanged'),
      onError: (message) => props.told.push(message),
    });
    props.out.hook = hook;
    props.out.renders++;
    return <Text>{hook.snap ? `${hook.vms.length} VMs` : 'nothing yet'}</Text>;
  }

  it('reads every refreshMs until unmount; then reads no more and lets the source go', async () => {
    const source = new CountingSource();
    const out = { renders: 0 };
    const app = render(<Probe source={source} refreshMs={20} told={[]} out={out} />);
    await until(() => app.lastFrame() === '2 VMs' && source.reads >= 3, 'three reads');
    expect(source.closed).toBe(0);
    app.unmount();
    const reads = source.reads;
    expect(source.closed).toBe(1);
    await pause(200);
    expect(source.reads).toBe(reads);
  });

  it('an unchanged snapshot is not drawn again (it is told); a changed one is', async () => {
    const source = new CountingSource();
    const told: string[] = [];
    const out = { renders: 0 };
    const app = render(<Probe source={source} refreshMs={20} told={told} out={out} />);
    await until(() => told.filter((t) => t === 'unchanged').length >= 3, 'three unchanged reads');
    const renders = out.renders;
    source.vms.pop();
    await until(() => app.lastFrame() === '1 VMs', 'the change drawn');
    expect(out.renders).toBeGreaterThan(renders);
  });

  it('one read at a time: refreshes asked while one runs make one more read after it', async () => {
    const source = new CountingSource();
    let release: () => void = () => undefined;
    source.gate = new Promise((resolve) => {
      release = resolve;
    });
    const out: { hook?: Snapshots; renders: number } = { renders: 0 };
    const app = render(<Probe source={source} refreshMs={60_000} told={[]} out={out} />);
    await until(() => source.reads === 1 && out.hook !== undefined, 'the first read');
    void out.hook?.refresh();
    void out.hook?.refresh();
    void out.hook?.refresh();
    expect(source.reads).toBe(1);
    source.gate = null;
    release();
    await until(() => source.reads === 2, 'the read that followed');
    await until(() => app.lastFrame() === '2 VMs', 'the snapshot drawn');
    await pause(100);
    expect(source.reads).toBe(2);
  });

  it('a read that fails is told in words; the last snapshot stays on screen', async () => {
    const source = new CountingSource();
    const told: string[] = [];
    const app = render(<Probe source={source} refreshMs={20} told={told} out={{ renders: 0 }} />);
    await until(() => app.lastFrame() === '2 VMs', 'the first snapshot');
    source.failWith = new Error('state file unreadable');
    await until(() => told.includes("Could not read berth's state: state file unreadable"), 'the failure told');
    expect(app.lastFrame()).toBe('2 VMs');
  });
});

describe('useLiveStats', () => {
  function Probe({ source, visible, known }: { source: FakeSource; visible: string[]; known: VmRow[] }) {
    const stats = useLiveStats(source);
    stats.ask({ visible, others: [] }, known);
    return <Text>{[...stats.live.keys()].join(' ') || 'no numbers'}</Text>;
  }

  it('asks after a render only when the rows on screen or the VMs known changed', async () => {
    const source = new FakeSource();
    const known = source.vms;
    const app = render(<Probe source={source} visible={['alice/main']} known={known} />);
    await until(() => app.lastFrame() === 'alice/main', 'the numbers drawn');
    app.rerender(<Probe source={source} visible={['alice/main']} known={known} />);
    await pause(50);
    expect(source.statsAsked).toHaveLength(1);
    app.rerender(<Probe source={source} visible={['alice/main', 'bob/main']} known={known} />);
    await until(() => app.lastFrame() === 'alice/main bob/main', 'the new rows asked for');
    app.rerender(<Probe source={source} visible={['alice/main', 'bob/main']} known={[...known]} />);
    await until(() => source.statsAsked.length === 3, 'asked again for new VMs');
  });

  it('asks nothing while nothing runs', async () => {
    const source = new FakeSource();
    const app = render(<Probe source={source} visible={[]} known={[]} />);
    await pause(50);
    expect(app.lastFrame()).toBe('no numbers');
    expect(source.statsAsked).toHaveLength(0);
  });
});

describe('useLogs', () => {
  function Probe({ source, refs }: { source: FakeSource; refs: string[] }) {
    const pane = useLogs(source);
    useState(() => {
      for (const ref of refs) void pane.open(ref);
    });
    return <Text>{pane.logs ? `${pane.logs.ref}: ${pane.logs.lines.join('|')}` : 'closed'}</Text>;
  }

  it('follows the logs, drawing whole lines; the stream is stopped when the app goes', async () => {
    const source = new FakeSource();
    const app = render(<Probe source={source} refs={['alice/main']} />);
    await until(() => app.lastFrame() === 'alice/main: first line of alice/main', 'the first line');
    source.logListeners[0]?.('two\nthr');
    await until(() => app.lastFrame() === 'alice/main: first line of alice/main|two', 'the second line');
    app.unmount();
    expect(source.calls).toEqual(['logs alice/main', 'logs-stop alice/main']);
  });

  it('a stream still being set up when the app goes is stopped when it comes', async () => {
    const source = new FakeSource();
    let release: () => void = () => undefined;
    source.logsGate = new Promise((resolve) => {
      release = resolve;
    });
    const app = render(<Probe source={source} refs={['alice/main']} />);
    await until(() => source.calls.includes('logs alice/main'), 'the logs asked for');
    app.unmount();
    release();
    await until(() => source.calls.includes('logs-stop alice/main'), 'the stream stopped');
  });
});

describe('useStatus', () => {
  function Probe({ statusMs, pending }: { statusMs: number; pending: boolean }) {
    const { status, set } = useStatus(statusMs);
    useState(() => setImmediate(() => set({ text: 'stop a/x', error: false, pending })));
    return <Text>{status?.text ?? 'nothing'}</Text>;
  }

  it("an outcome goes after statusMs; an action's progress stays", async () => {
    const done = render(<Probe statusMs={50} pending={false} />);
    const running = render(<Probe statusMs={50} pending={true} />);
    await until(() => done.lastFrame() === 'stop a/x' || done.lastFrame() === 'nothing', 'the outcome');
    await until(() => done.lastFrame() === 'nothing', 'the outcome gone');
    await pause(150);
    expect(running.lastFrame()).toBe('stop a/x');
  });
});

describe('useKeyQueue', () => {
  function Probe({ handled }: { handled: string[] }) {
    const [count, setCount] = useState(0);
    useKeyQueue((input, _key, batch) => {
      // Each key sees what the one before it did.
      handled.push(`${input} batch ${batch} after ${count}`);
      setCount((c) => c + 1);
    });
    return <Text>{String(count)}</Text>;
  }

  it('keys that came together are handled one after the other, in one batch; the next input is a batch of its own', async () => {
    const handled: string[] = [];
    const app = render(<Probe handled={handled} />);
    await pause(20);
    app.stdin.write('jx');
    await until(() => app.lastFrame() === '2', 'two keys handled');
    app.stdin.write('k');
    await until(() => app.lastFrame() === '3', 'the third key handled');
    expect(handled).toEqual(['j batch 1 after 0', 'x batch 1 after 1', 'k batch 2 after 2']);
  });
});
