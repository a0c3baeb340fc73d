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
    // One side at a time: a write to the other side waits until what was written has gone out.
    // (ssh2 resumes only one of stdout/stderr when the client's window reopens; two waiting at
    // once can stall for good.)
    let inflight = 0;
    let inflightTarget: Writable | null = null;
    let waiting = 0;
    let ended = false;
    const queue: Array<[Writable, Buffer]> = [];
    const maybeResume = () => {
      if (waiting === 0 && queue.length === 0 && source.isPaused()) source.resume();
      if (ended && queue.length === 0 && inflight === 0) resolve();
    };
    const written = () => {
      inflight--;
      if (inflight === 0) {
        inflightTarget = null;
        drainQueue();
      }
      maybeResume();
    };
    const send = (to: Writable, payload: Buffer) => {
      if (to.destroyed || to.writableEnded) return;
      inflight++;
      inflightTarget = to;
      if (!to.write(payload, written)) {
        waiting++;
        source.pause();
        to.once('drain', () => {
          waiting--;
          maybeResume();
        });
      }
    };
    const drainQueue = () => {
      while (queue.length > 0) {
        const [to, payload] = queue[0] as [Writable, Buffer];
        if (inflight > 0 && inflightTarget !== to) return;
        queue.shift();
        send(to, payload);
      }
    };
    const write = (payload: Buffer) => {
      onPayload(payload.length);
      if (queue.length > 0 || (inflight > 0 && inflightTarget !== target)) {
        queue.push([target, payload]);
        source.pause();
        return;
      }
      send(target, payload);
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
    const done = () => {
      ended = true;
      maybeResume();
    };
    source.once('end', done);
    source.once('close', done);
    source.once('error', () => resolve());
  });
}

/**
 * The VM helper's framed stdout (templates/vm-helper.py `connect`, `dial`: a 4-byte length, then
 * that much data; length 0 for the EOF of the connection in the VM) as plain bytes, null for that EOF.
 */
export class HelperFrames {
  private header = Buffer.alloc(0);
  private remaining = 0;

  take(chunk: Buffer): Array<Buffer | null> {
    const parts: Array<Buffer | null> = [];
    let rest = chunk;
    while (rest.length > 0) {
      if (this.remaining > 0) {
        const part = rest.subarray(0, this.remaining);
        this.remaining -= part.length;
        rest = rest.subarray(part.length);
        parts.push(part);
        continue;
      }
      const need = 4 - this.header.length;
      this.header = Buffer.concat([this.header, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.header.length < 4) break;
      this.remaining = this.header.readUInt32BE(0);
      this.header = Buffer.alloc(0);
      if (this.remaining === 0) parts.push(null);
    }
    return parts;
  }
}
