import { withCallSignal } from '../../docker/call-signal.js';
import { BerthError } from '../../errors.js';

/** How long a session's waits on the engine may last; BERTH_SSH_EXIT_DEADLINE_MS sets it (tests). */
export function engineDeadlineMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BERTH_SSH_EXIT_DEADLINE_MS);
  return Number.isInteger(n) && n > 0 ? n : 10_000;
}

export class DeadlineError extends BerthError {
  constructor(what: string, ms: number) {
    super(
      'ENGINE_TIMEOUT',
      `The engine did not ${what} within ${Math.round(ms / 100) / 10} s.`,
      'See the engine log; the VM may be overloaded.',
    );
  }
}

/**
 * `work` within `ms`: past it, its signal is aborted (the work lets go of what it holds, and the
 * engine requests made within it are ended) and the result is a DeadlineError, whatever `work`
 * does afterwards.
 */
export function withDeadline<T>(ms: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new DeadlineError(what, ms));
    }, ms);
  });
  // Engine calls made within `work` carry the signal, however deep (docker/call-signal.ts).
  const running = withCallSignal(controller.signal, () => work(controller.signal));
  // A late failure of the abandoned work is nobody's concern.
  running.catch(() => undefined);
  return Promise.race([running, expired]).finally(() => clearTimeout(timer));
}

export const isDeadline = (err: unknown): err is DeadlineError => err instanceof DeadlineError;

/** How long a copy between engines (vm move) may pass no bytes; BERTH_MOVE_STALL_MS sets it (tests). */
export function copyStallMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BERTH_MOVE_STALL_MS);
  return Number.isInteger(n) && n > 0 ? n : 60_000;
}

/**
 * A stream copy that fails when it stops moving: `open` gives the source, `write` takes what
 * passes through. Each chunk restarts the clock; past `stallMs` without one (the source silent,
 * or the target not answering once the last chunk is in) both are aborted (`signal`, and the
 * streams destroyed) and the copy fails with COPY_STALLED, whatever they do afterwards. A copy
 * that keeps moving may take as long as it needs. Resolves with the bytes copied.
 */
export async function copyWithStallDeadline(
  stallMs: number,
  what: string,
  hint: string,
  open: (signal: AbortSignal) => Promise<NodeJS.ReadableStream>,
  write: (data: NodeJS.ReadableStream, signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const { Transform } = await import('node:stream');
  const controller = new AbortController();
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let source: NodeJS.ReadableStream | undefined;
  let stall: (err: BerthError) => void = () => undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    stall = reject;
  });
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      arm();
      done(null, chunk);
    },
  });
  // Its errors are the writer's to see (when it has begun); unheard, they are the copy's result already.
  counter.on('error', () => undefined);
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const err = new BerthError(
        'COPY_STALLED',
        `The copy of ${what} stalled: no bytes for ${Math.round(stallMs / 100) / 10} s (${bytes} bytes copied).`,
        hint,
      );
      controller.abort();
      (source as { destroy?: (e?: Error) => void } | undefined)?.destroy?.(err);
      counter.destroy(err);
      stall(err);
    }, stallMs);
  };
  const copying = (async () => {
    arm();
    source = await open(controller.signal);
    if (controller.signal.aborted) {
      (source as { destroy?: () => void }).destroy?.();
      throw new BerthError('COPY_STALLED', `The copy of ${what} was given up.`, hint);
    }
    source.on('error', (err: Error) => counter.destroy(err));
    source.pipe(counter);
    await write(counter, controller.signal);
    return bytes;
  })();
  copying.catch(() => undefined);
  return Promise.race([copying, stalled]).finally(() => clearTimeout(timer));
}
