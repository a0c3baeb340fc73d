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
    // Payloads are passed on as they arrive (a frame can be far larger than a socket read);
    // only a header split across reads is put together.
    let header: Buffer = Buffer.alloc(0);
    let remaining = 0;
    let target: Writable = stdout;
    let waiting = 0;
    const write = (payload: Buffer) => {
      onPayload(payload.length);
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
      let offset = 0;
      while (offset < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - offset);
          write(chunk.subarray(offset, offset + take));
          remaining -= take;
          offset += take;
          continue;
        }
        const need = 8 - header.length;
        const part = chunk.subarray(offset, offset + need);
        header = header.length ? Buffer.concat([header, part]) : part;
        offset += part.length;
        if (header.length < 8) break;
        target = header[0] === 2 ? stderr : stdout;
        remaining = header.readUInt32BE(4);
        header = Buffer.alloc(0);
      }
    });
    const done = () => resolve();
    source.once('end', done);
    source.once('close', done);
    source.once('error', done);
  });
}
