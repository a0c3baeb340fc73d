import { BerthError } from '../errors.js';

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
 * `work` within `ms`: past it, its signal is aborted (the work lets go of what it holds) and
 * the result is a DeadlineError, whatever `work` does afterwards.
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
  const running = work(controller.signal);
  // A late failure of the abandoned work is nobody's concern.
  running.catch(() => undefined);
  return Promise.race([running, expired]).finally(() => clearTimeout(timer));
}

export const isDeadline = (err: unknown): err is DeadlineError => err instanceof DeadlineError;
