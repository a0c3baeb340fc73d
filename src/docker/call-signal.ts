import { AsyncLocalStorage } from 'node:async_hooks';
import type Docker from 'dockerode';

/**
 * The abort signal of the work under way (a deadline's, see `withDeadline` in services): every
 * engine call made within it, however deep, is made with that signal, so that a deadline that
 * gives up on an engine also ends the request it was waiting on. A frozen engine (its socket
 * accepts and never answers) then holds no socket, no timer and no process open.
 */
const current = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` with `signal` as the signal of the engine calls it makes (with any outer one's). */
export function withCallSignal<T>(signal: AbortSignal, work: () => T): T {
  const outer = current.getStore();
  return current.run(outer ? AbortSignal.any([outer, signal]) : signal, work);
}

/** The signal of the work under way, if any (for engine requests made without dockerode). */
export function currentCallSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Every request of `docker` carries the current call signal unless it names its own. */
export function abortWithCallSignal(docker: Docker): Docker {
  const modem = docker.modem as unknown as { dial?(options: { abortSignal?: AbortSignal }, callback: unknown): unknown } | undefined;
  if (typeof modem?.dial !== 'function') return docker; // a stand-in client without docker-modem (tests)
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const signal = current.getStore();
    return dial(signal && !options.abortSignal ? { ...options, abortSignal: signal } : options, callback);
  };
  return docker;
}
