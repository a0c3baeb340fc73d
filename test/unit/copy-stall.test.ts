import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copyWithStallDeadline } from '../../src/services/engine/deadline.js';

/** A sink that takes everything, and resolves when its input ends (or fails with its input). */
function sink(): { write: (data: NodeJS.ReadableStream, signal: AbortSignal) => Promise<void>; got: () => number; aborted: () => boolean } {
  let got = 0;
  let aborted = false;
  return {
    got: () => got,
    aborted: () => aborted,
    write: (data, signal) =>
      new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
        });
        const out = new Writable({
          write(chunk: Buffer, _e, done) {
            got += chunk.length;
            done();
          },
        });
        (data as Readable).on('error', reject);
        out.on('finish', resolve);
        data.pipe(out);
      }),
  };
}

describe('a copy between engines with a stall deadline', () => {
  it('a source that sends some bytes and then stops fails with COPY_STALLED after the deadline; the source is destroyed and the target aborted', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(1000));
    const target = sink();
    const started = Date.now();
    const copy = copyWithStallDeadline(
      300,
      'the home of VM a/main from node n2 to node n1',
      'The VM stays on node n2.',
      async () => source,
      target.write,
    );
    await expect(copy).rejects.toMatchObject({
      code: 'COPY_STALLED',
      message: expect.stringMatching(/home of VM a\/main from node n2 to node n1 stalled: no bytes for 0\.3 s \(1000 bytes copied\)/),
      hint: 'The VM stays on node n2.',
    });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    expect(source.destroyed).toBe(true);
    expect(target.aborted()).toBe(true);
    expect(target.got()).toBe(1000);
  });

  it('a slow copy that keeps moving takes as long as it needs: the deadline is per silence, not for the whole', async () => {
    let sent = 0;
    const source = new Readable({
      read() {
        setTimeout(() => {
          sent += 1;
          this.push(sent > 12 ? null : Buffer.alloc(100));
        }, 60);
      },
    });
    const target = sink();
    const bytes = await copyWithStallDeadline(200, 'a slow home', 'hint', async () => source, target.write);
    expect(bytes).toBe(1200);
    expect(target.got()).toBe(1200);
    expect(target.aborted()).toBe(false);
  });

  it('a target that takes every byte and then never answers fails too', async () => {
    const source = Readable.from([Buffer.alloc(10)]);
    const copy = copyWithStallDeadline(
      200,
      'a home',
      'hint',
      async () => source,
      (data) =>
        new Promise<void>(() => {
          data.resume();
        }),
    );
    await expect(copy).rejects.toMatchObject({ code: 'COPY_STALLED', message: expect.stringContaining('(10 bytes copied)') });
  });

  it('a source that never opens fails after the deadline as well', async () => {
    let signalled = false;
    const copy = copyWithStallDeadline(
      200,
      'a home',
      'hint',
      (signal) =>
        new Promise<NodeJS.ReadableStream>(() => {
          signal.addEventListener('abort', () => {
            signalled = true;
          });
        }),
      sink().write,
    );
    await expect(copy).rejects.toMatchObject({ code: 'COPY_STALLED', message: expect.stringContaining('(0 bytes copied)') });
    expect(signalled).toBe(true);
  });
});
