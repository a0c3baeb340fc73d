import { mkdir, stat } from 'node:fs/promises';
import { BerthError } from '../errors.js';
import { statePath } from '../home.js';
import { type State, StateSchema } from './schema.js';
import { StateFile } from './state-file.js';

const LOCK_STALE_MS = 5_000;

/**
 * The one way to read and change berth's state. Reads see a whole committed file;
 * changes run as transactions under a cross-process lock.
 */
export class StateStore {
  readonly file: StateFile;

  constructor(readonly home: string) {
    this.file = new StateFile(statePath(home));
  }

  get path(): string {
    return this.file.path;
  }

  async exists(): Promise<boolean> {
    return (await this.file.read()) !== null;
  }

  /** A validated snapshot of the state. */
  async read(): Promise<State> {
    const state = await this.file.read();
    if (!state) throw this.notInitialised();
    return state;
  }

  /**
   * The same snapshot, shared and frozen (changing it throws): for hot paths that only read.
   * Costs one file read while the file is unchanged.
   */
  async snapshot(): Promise<State> {
    const state = await this.file.snapshot();
    if (!state) throw this.notInitialised();
    return state;
  }

  /**
   * Locks, re-reads, lets `change` edit the state in place, validates, and writes
   * atomically only if something changed. If `change` throws, nothing is written.
   */
  async transact<T>(change: (state: State) => T | Promise<T>, options: { create?: () => State } = {}): Promise<T> {
    await this.ensureHome(options.create !== undefined);
    let lost: Error | undefined;
    const release = await this.lock((err) => {
      lost = err;
    });
    try {
      const { Low } = await import('lowdb');
      const db = new Low<State | null>(this.file, null);
      await db.read();
      const state = db.data ?? options.create?.();
      if (!state) throw this.notInitialised();
      const before = JSON.stringify(state);
      const result = await change(state);
      if (JSON.stringify(state) === before && db.data) return result;
      const checked = StateSchema.safeParse(state);
      if (!checked.success) {
        throw new Error(`berth bug: a change would break the state file (${checked.error.issues[0]?.message})`);
      }
      if (lost) throw lockLost(this.path);
      db.data = checked.data;
      await db.write();
      return result;
    } finally {
      await release().catch(() => undefined);
    }
  }

  private async ensureHome(create: boolean): Promise<void> {
    if (create) {
      await mkdir(this.home, { recursive: true, mode: 0o700 });
      return;
    }
    try {
      await stat(this.home);
    } catch {
      throw this.notInitialised();
    }
  }

  private async lock(onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
    // Loaded here, not at the top: read-only commands never lock and start faster without it.
    const { default: lockfile } = await import('proper-lockfile');
    try {
      return await lockfile.lock(this.path, {
        realpath: false,
        lockfilePath: `${this.path}.lock`,
        stale: LOCK_STALE_MS,
        update: LOCK_STALE_MS / 5,
        retries: { retries: 1000, factor: 1.2, minTimeout: 2, maxTimeout: 50, randomize: true },
        onCompromised,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new BerthError(
          'STATE_LOCKED',
          `Another berth process has held the lock on ${this.path} for too long.`,
          `Try again; if no berth process is running, remove ${this.path}.lock.`,
        );
      }
      throw err;
    }
  }

  private notInitialised(): BerthError {
    return new BerthError(
      'NOT_INITIALISED',
      `berth has no state at ${this.path}.`,
      'Run `berth init` first, or set BERTH_HOME to the directory that holds state.json.',
    );
  }
}

function lockLost(path: string): BerthError {
  return new BerthError(
    'STATE_LOCK_LOST',
    `The lock on ${path} was lost while a change was under way; the change was not written.`,
    'Run the command again.',
  );
}
