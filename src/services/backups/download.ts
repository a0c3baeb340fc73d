import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Home } from '../../state/schema.js';
import type { Berth } from '../core/context.js';
import { dumpSnapshot, type SnapshotView } from './backups.js';

/** What restic may write ahead of the reader: the tail it writes just before it exits. */
const TAIL_BUFFER = 4 * 1024 * 1024;

/**
 * A snapshot as a `.tar.gz`, streamed: restic's tar through gzip into `out` (an HTTP response),
 * at the pace `out` takes it; only a small buffer is held. `signal` (the browser gone) stops
 * restic's container. Fails, and destroys `out`, when restic fails or the reader goes away: a cut
 * archive never looks whole.
 */
export async function gzippedSnapshot(ctx: Berth, home: Home, snapshot: SnapshotView, out: Writable, signal: AbortSignal): Promise<void> {
  const tar = new PassThrough({ highWaterMark: TAIL_BUFFER });
  const gzip = createGzip({ level: 6 });
  tar.pipe(gzip);
  const piped = pipeline(gzip, out);
  // Once nobody reads, what restic still writes is dropped: a container whose output is never
  // read cannot be stopped (the engine waits to hand it over).
  const discard = () => {
    tar.unpipe(gzip);
    tar.resume();
  };
  signal.addEventListener('abort', discard, { once: true });
  const failed = piped.then(
    () => null,
    (err: unknown) => {
      discard();
      return err;
    },
  );
  try {
    await dumpSnapshot(ctx, home, snapshot.longId, tar, signal);
  } catch (err) {
    discard();
    out.destroy();
    throw err;
  } finally {
    signal.removeEventListener('abort', discard);
  }
  if (signal.aborted) {
    out.destroy();
    throw signal.reason ?? new Error('The download was stopped.');
  }
  tar.end();
  const err = await failed;
  if (err) throw err;
}
