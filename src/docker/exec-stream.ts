import type { Readable, Writable } from 'node:stream';

/**
 * Splits Docker's multiplexed exec stream (8-byte frame headers: stream type, size) into
 * stdout and stderr, as Buffers, pausing the source while either side is full.
 * Resolves when the source has ended and everything was written.
 */
export function demuxExecStream(
  source: Readable,
  stdout: Writable,
  stderr: Writable,
  onPayload: (bytes: number) => void = () => undefined,
): Promise<void> {
  return new Promise((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    let waiting = 0;
    const write = (target: Writable, payload: Buffer) => {
      if (target.destroyed || target.writableEnded) return;
      if (!target.write(payload)) {
        waiting++;
        source.pause();
        target.once('drain', () => {
          waiting--;
          if (waiting === 0) source.resume();
        });
      }
    };
    source.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      while (pending.length - offset >= 8) {
        const type = pending[offset];
        const size = pending.readUInt32BE(offset + 4);
        if (pending.length - offset - 8 < size) break;
        const payload = pending.subarray(offset + 8, offset + 8 + size);
        offset += 8 + size;
        if (size > 0) {
          onPayload(size);
          write(type === 2 ? stderr : stdout, payload);
        }
      }
      pending = offset === pending.length ? Buffer.alloc(0) : pending.subarray(offset);
    });
    const done = () => resolve();
    source.once('end', done);
    source.once('close', done);
    source.once('error', done);
  });
}
