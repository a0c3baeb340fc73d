import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson } from '../helpers/cli.js';
import { docker, inspect, unique, type VmHome, vmHome } from '../helpers/docker.js';

let h: VmHome;
let login: string;
/** The VMs' container ids (short), by VM name. */
const containers = new Map<string, string>();
const N = 16;
const CONCURRENCY = 4;
const names = Array.from({ length: N }, (_, i) => `v${i}`);
const run = (args: string[]) => berth(h.home, args);

interface EngineEvent {
  Type: string;
  Action: string;
  id?: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/**
 * The engine's events while `work` runs, as they happen (a live subscription: the engine's own
 * memory of past events is too short to trust with many VMs and other tests at work).
 */
async function eventsDuring<T>(work: () => Promise<T>): Promise<{ result: T; events: EngineEvent[] }> {
  const stream = (await docker.getEvents({
    filters: { type: ['container', 'network'], event: ['start', 'kill', 'stop', 'connect', 'create'] },
  })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const events: EngineEvent[] = [];
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as EngineEvent);
  });
  try {
    const result = await work();
    // The last events of the work are on their way: wait for them with a deadline, not a fixed pause.
    const settled = Date.now() + 10_000;
    const marker = unique('berth-bulk-marker-');
    await docker.createNetwork({ Name: marker, Labels: { 'dev.berth.test': 'bulk' } });
    await docker.getNetwork(marker).remove();
    while (!events.some((e) => e.Type === 'network' && e.Actor.Attributes.name === marker) && Date.now() < settled) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { result, events };
  } finally {
    stream.destroy();
  }
}

/**
 * The most VMs the engine worked on at once: each VM's span runs from the engine's first event of
 * the action (a stop's `kill`, a start's network `connect`) to its last (`stop`, `start`).
 */
function mostAtOnce(events: EngineEvent[], begin: (e: EngineEvent) => string | null, end: (e: EngineEvent) => string | null): number {
  // `vm create --json` gives the short ids.
  const ours = new Set(containers.values());
  const spans = new Map<string, { from?: number; to?: number }>();
  for (const e of events) {
    const began = begin(e)?.slice(0, 12);
    const ended = end(e)?.slice(0, 12);
    if (began && ours.has(began)) {
      const span = spans.get(began) ?? {};
      span.from ??= e.timeNano;
      spans.set(began, span);
    }
    if (ended && ours.has(ended)) {
      const span = spans.get(ended) ?? {};
      span.to = e.timeNano;
      spans.set(ended, span);
    }
  }
  const points = [...spans.values()].flatMap((s) => (s.from && s.to ? [[s.from, 1] as const, [s.to, -1] as const] : []));
  // Ends before beginnings at the same instant: spans that only touch did not overlap.
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of points) {
    now += step;
    most = Math.max(most, now);
  }
  return most;
}

const isContainer = (action: string) => (e: EngineEvent) => (e.Type === 'container' && e.Action === action ? (e.id ?? e.Actor.ID) : null);
const connected = (e: EngineEvent) => (e.Type === 'network' && e.Action === 'connect' ? (e.Actor.Attributes.container ?? null) : null);

async function runningNow(): Promise<string[]> {
  const states = await Promise.all(
    names.map(async (name) => [name, (await inspect(containers.get(name) as string)).State.Running] as const),
  );
  return states.filter(([, up]) => up).map(([name]) => name);
}

beforeAll(async () => {
  h = await vmHome();
  login = unique('bulk');
  for (const args of [
    ['plan', 'add', 'tiny', '--cpu', '0.1', '--ram', '16m', '--disk', '0', '--rootfs', '0', '--max-vms', String(N)],
    ['user', 'allow', login, '--plan', 'tiny'],
    ['config', 'set', 'bulk.concurrency', String(CONCURRENCY)],
  ]) {
    const r = await run(args);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  // Four creates at a time, as an operator filling a class would.
  for (let i = 0; i < N; i += 4) {
    const made = await Promise.all(
      names
        .slice(i, i + 4)
        .map((name) => berthJson<{ name: string; containerId: string }>(h.home, ['vm', 'create', login, '--name', name])),
    );
    for (const vm of made) containers.set(vm.name, vm.containerId);
  }
}, 180_000);
afterAll(() => h.cleanup());

describe(`maintenance on ${N} VMs with bulk.concurrency ${CONCURRENCY}`, () => {
  it('maintenance on stops them all, several at once but never more than bulk.concurrency (as the engine saw it)', async () => {
    const { result, events } = await eventsDuring(() => run(['maintenance', 'on', '--reason', 'bulk test', '--json']));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as { changed: string[]; failed: unknown[] };
    expect(out.changed.sort()).toEqual(names.map((n) => `${login}/${n}`).sort());
    expect(out.failed).toEqual([]);
    expect(await runningNow()).toEqual([]);
    const most = mostAtOnce(events, isContainer('kill'), isContainer('stop'));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(CONCURRENCY);
  });

  it('maintenance off starts them all again, several at once but never more than bulk.concurrency', async () => {
    const { result, events } = await eventsDuring(() => run(['maintenance', 'off', '--json']));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).changed).toHaveLength(N);
    expect((await runningNow()).sort()).toEqual([...names].sort());
    const most = mostAtOnce(events, connected, isContainer('start'));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(CONCURRENCY);
  });

  it("a VM whose container went behind berth's back is told (exit 1, listed in --json) and the others still stop and start", async () => {
    const [gone, alsoGone] = [names[3] as string, names[7] as string];
    await docker.getContainer(containers.get(gone) as string).remove({ force: true });
    const on = await run(['maintenance', 'on', '--json']);
    expect(on.code).toBe(1);
    const stopped = JSON.parse(on.stdout) as { changed: string[]; failed: Array<{ vm: string; error: string }> };
    expect(stopped.failed).toEqual([expect.objectContaining({ vm: `${login}/${gone}` })]);
    expect(stopped.changed).toHaveLength(N - 1);
    containers.delete(gone);
    names.splice(names.indexOf(gone), 1);
    expect(await runningNow()).toEqual([]);

    // Without --json: the failure in words, on stdout with the rest; progress (not a terminal: plain lines) on stderr.
    await docker.getContainer(containers.get(alsoGone) as string).remove({ force: true });
    const off = await run(['maintenance', 'off']);
    expect(off.code).toBe(1);
    expect(off.stdout).toMatch(new RegExp(`could not handle ${login}/${alsoGone}: The container of VM ${login}/${alsoGone} is gone`));
    expect(off.stderr).toContain(`starting VMs: ${N - 1}/${N - 1}, 1 failed`);
    containers.delete(alsoGone);
    names.splice(names.indexOf(alsoGone), 1);
    expect((await runningNow()).sort()).toEqual([...names].sort());
    const listed = await berthJson<Array<{ ref: string; state: string }>>(h.home, ['vm', 'list', '--all']);
    expect(listed.filter((v) => v.state === 'running')).toHaveLength(N - 2);
    expect(
      listed
        .filter((v) => v.state === 'missing')
        .map((v) => v.ref)
        .sort(),
    ).toEqual([`${login}/${gone}`, `${login}/${alsoGone}`].sort());
    const stats = await berthJson<Array<{ ref: string; memoryUsedBytes: number }>>(h.home, ['vm', 'stats']);
    expect(stats).toHaveLength(N - 2);
    for (const s of stats) expect(s.memoryUsedBytes).toBeGreaterThan(0);
  });

  it('down --stop-vms stops them all, the one that cannot be stopped told', async () => {
    const down = await run(['down', '--stop-vms', '--json']);
    expect(down.code).toBe(1);
    const out = JSON.parse(down.stdout) as { stoppedVms: string[]; failed: Array<{ vm: string; code: string }> };
    expect(out.stoppedVms).toHaveLength(N - 2);
    // The VM whose container went while it should run: refused up front, not tried.
    expect(out.failed.map((f) => f.code)).toEqual(['VM_CONTAINER_MISSING']);
    expect(await runningNow()).toEqual([]);
  });
});
