import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castEvent, castHeader, parseCast } from '../../src/domain/asciicast.js';
import { CastWriter } from '../../src/host/cast-writer.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-cast-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const header = { width: 80, height: 24, timestamp: 1_800_000_000, command: '/bin/bash' };
let n = 0;
const path = () => join(dir, `s${n++}.cast`);

describe('asciicast v2', () => {
  it('writes a header and events that read back, refusing malformed lines', () => {
    const text = [castHeader(header), castEvent(12.5, 'o', 'hé\r\n'), castEvent(1000, 'r', '100x30'), castEvent(2000, 'i', 'ls\r')].join(
      '\n',
    );
    const cast = parseCast(`${text}\n`);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24, command: '/bin/bash' });
    expect(cast.events).toEqual([
      [0.0125, 'o', 'hé\r\n'],
      [1, 'r', '100x30'],
      [2, 'i', 'ls\r'],
    ]);
    expect(() => parseCast('{"version":1,"width":80,"height":24}')).toThrow(/v2/);
    expect(() => parseCast(`${castHeader(header)}\n[2,"o","a"]\n[1,"o","b"]`)).toThrow(/line 3.*backwards/);
    expect(() => parseCast(`${castHeader(header)}\n[1,"x","a"]`)).toThrow(/not an event code/);
    expect(() => parseCast(`${castHeader(header)}\n[1,"r","big"]`)).toThrow(/COLSxROWS/);
    expect(() => castHeader({ ...header, width: 0 })).toThrow(/terminal size/);
  });

  it('records output whole across split UTF-8, resizes, and input only when asked; mode 0600; never over an existing file', async () => {
    let t = 1000;
    const file = path();
    const w = await CastWriter.create(file, header, { maxQueuedBytes: 1 << 20, maxFileBytes: 1 << 20, input: false, now: () => t });
    const euro = Buffer.from('€');
    w.output(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]));
    t += 500;
    w.output(euro.subarray(1));
    w.input('secret typed');
    w.resize(120, 40);
    const stats = await w.close();
    const cast = parseCast(await readFile(file, 'utf8'));
    expect(cast.events.map((e) => e[1])).toEqual(['o', 'o', 'r']);
    expect(
      cast.events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
    ).toBe('price: €');
    expect(cast.events[1]?.[0]).toBe(0.5);
    expect(stats).toMatchObject({ droppedFrames: 0, stopped: null });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await expect(CastWriter.create(file, header, { maxQueuedBytes: 100, maxFileBytes: 100, input: false })).rejects.toThrow(/EEXIST/);
    const typed = await CastWriter.create(path(), header, { maxQueuedBytes: 1 << 20, maxFileBytes: 1 << 20, input: true });
    typed.input('ls\r');
    await typed.close();
  });

  it('never waits: past the queue it drops output and says so with a marker; past the size cap it ends with one', async () => {
    const file = path();
    const w = await CastWriter.create(file, header, { maxQueuedBytes: 4096, maxFileBytes: 1 << 20, input: false });
    // All at once, with no chance for the writer to run: most of it cannot be queued.
    for (let i = 0; i < 1000; i++) w.output(`line ${i} ${'x'.repeat(60)}\r\n`);
    expect(w.stats.droppedFrames).toBeGreaterThan(900);
    await new Promise((r) => setTimeout(r, 50));
    w.output('after\r\n');
    await w.close();
    const cast = parseCast(await readFile(file, 'utf8'));
    const marker = cast.events.find((e) => e[1] === 'm');
    expect(marker?.[2]).toMatch(/\d+ bytes of output in \d+ frames were not recorded/);
    expect(cast.events.at(-1)?.[2]).toBe('after\r\n');

    const capped = path();
    const c = await CastWriter.create(capped, header, { maxQueuedBytes: 1 << 20, maxFileBytes: 2000, input: false });
    for (let i = 0; i < 100; i++) c.output(`${'y'.repeat(50)}\r\n`);
    const stats = await c.close();
    expect(stats.stopped).toBe('cap');
    const text = await readFile(capped, 'utf8');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(2000);
    expect(parseCast(text).events.at(-1)?.[2]).toMatch(/size cap/);
  });

  it('never passes its size cap, whatever the cap and however the output comes (one write or many)', async () => {
    for (let cap = 400; cap < 3000; cap += 97) {
      for (const spaced of [false, true]) {
        const file = path();
        const w = await CastWriter.create(file, header, { maxQueuedBytes: 1 << 20, maxFileBytes: cap, input: false });
        for (let i = 0; i < 150; i++) {
          w.output(`${'z'.repeat((i * 7) % 45)}\r\n`);
          // Spaced out, each line is a batch of its own: the cap is met between batches too.
          if (spaced) await new Promise((r) => setImmediate(r));
        }
        await w.close();
        const text = await readFile(file, 'utf8');
        expect(Buffer.byteLength(text), `cap ${cap}`).toBeLessThanOrEqual(cap);
        expect(parseCast(text).events.at(-1)?.[2]).toMatch(/size cap/);
      }
    }
  });

  it('a write that fails ends the recording, not the caller', async () => {
    const file = path();
    await writeFile(join(dir, 'placeholder'), '');
    const w = await CastWriter.create(file, header, { maxQueuedBytes: 1 << 20, maxFileBytes: 1 << 20, input: false });
    // The file handle closed under it, as a failing disk would make its writes fail.
    await (w as unknown as { file: { close(): Promise<void> } }).file.close();
    w.output('lost\r\n');
    await new Promise((r) => setTimeout(r, 20));
    expect(w.stats.stopped).toBe('error');
    w.output('also lost\r\n');
    await expect(w.close()).resolves.toMatchObject({ stopped: 'error' });
  });

  it('marks every gap before the next line, and at the end when nothing came after', async () => {
    const file = path();
    const w = await CastWriter.create(file, header, { maxQueuedBytes: 200, maxFileBytes: 1 << 20, input: false });
    w.output('x'.repeat(150));
    w.output('y'.repeat(150));
    w.output('z');
    w.resize(100, 30);
    await w.close();
    const events = parseCast(await readFile(file, 'utf8')).events;
    const gap = events.findIndex((e) => e[1] === 'm');
    expect(gap).toBeGreaterThan(0);
    expect(events.slice(0, gap).map((e) => e[2])).toEqual(['x'.repeat(150)]);
    expect(events[gap]?.[2]).toMatch(/bytes of output in \d+ frames were not recorded/);

    const tail = path();
    const t = await CastWriter.create(tail, header, { maxQueuedBytes: 200, maxFileBytes: 1 << 20, input: false });
    t.output('x'.repeat(150));
    t.output('y'.repeat(150));
    await t.close();
    expect(parseCast(await readFile(tail, 'utf8')).events.at(-1)?.[2]).toMatch(/150 bytes of output in 1 frames were not recorded/);
  });

  it('clamps a size out of range instead of refusing it, and reads a file whose last line was cut short', async () => {
    const file = path();
    const w = await CastWriter.create(
      file,
      { ...header, width: 50_000, height: 0 },
      { maxQueuedBytes: 1 << 20, maxFileBytes: 1 << 20, input: false },
    );
    w.resize(1e9, -5);
    w.output('ok');
    await w.close();
    const text = await readFile(file, 'utf8');
    const cast = parseCast(text);
    expect([cast.header.width, cast.header.height]).toEqual([9999, 1]);
    expect(cast.events.find((e) => e[1] === 'r')?.[2]).toBe('9999x1');
    expect(parseCast(`${text}[1.5, "o", "hal`).events.at(-1)?.[2]).toBe('ok');
  });
});
