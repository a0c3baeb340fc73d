import { readFileSync } from 'node:fs';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Adapter } from 'lowdb';
import type { ZodError } from 'zod';
import { BerthError } from '../errors.js';
import { migrate } from './migrations.js';
import { type State, StateSchema } from './schema.js';

let writes = 0;

/**
 * lowdb adapter for the state file: every read is parsed, migrated and validated;
 * every write is atomic (temp file, fsync, rename, fsync of the directory) and keeps
 * the version it replaces as `state.json.bak`.
 */
export class StateFile implements Adapter<State | null> {
  /**
   * The last text read or written, what it validated to (as JSON) and that state frozen. A read
   * whose text is the same, byte for byte (never stale, whoever wrote it), skips parsing,
   * migrating and validating.
   */
  private last: { text: string; json: string; frozen?: State } | null = null;

  constructor(readonly path: string) {}

  get backupPath(): string {
    return `${this.path}.bak`;
  }

  /** A validated state of one's own to change. */
  async read(): Promise<State | null> {
    const text = await this.readText();
    return text === null ? null : this.parse(text);
  }

  /**
   * The validated state, shared and frozen: for readers that only look (the bot's and the SSH
   * gateway's checks on every update and login), at the cost of one file read when unchanged.
   */
  async snapshot(): Promise<State | null> {
    const text = await this.readText();
    if (text === null) return null;
    if (this.last?.text !== text) this.parse(text);
    const last = this.last as { json: string; frozen?: State };
    last.frozen ??= deepFreeze(JSON.parse(last.json) as State);
    return last.frozen;
  }

  private async readText(): Promise<string | null> {
    let text: string;
    try {
      // One synchronous read of a small local file: far cheaper than the four thread-pool trips
      // of an asynchronous one, on paths (every bot update, every SSH login) that read it often.
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new BerthError(
        'STATE_UNREADABLE',
        `Cannot read ${this.path}: ${(err as Error).message}.`,
        'Check that the file and its directory belong to the user running berth.',
      );
    }
    return text;
  }

  parse(text: string): State {
    if (this.last?.text === text) return JSON.parse(this.last.json) as State;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw this.corrupt(`it is not valid JSON (${(err as Error).message})`);
    }
    const result = StateSchema.safeParse(migrate(raw, this.path));
    if (!result.success) throw this.corrupt(describe(result.error));
    this.remember(text, result.data);
    return result.data;
  }

  async write(state: State | null): Promise<void> {
    if (!state) throw new Error('berth bug: refusing to write an empty state file');
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const temp = `${this.path}.${process.pid}.${++writes}.tmp`;
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.keepBackup();
      await rename(temp, this.path);
    } catch (err) {
      await rm(temp, { force: true });
      throw new BerthError(
        'STATE_WRITE_FAILED',
        `Cannot write ${this.path}: ${(err as Error).message}. Nothing was changed.`,
        'Check free disk space and the permissions of the berth home.',
      );
    }
    await syncDirectory(dirname(this.path));
    this.remember(text, state);
  }

  private remember(text: string, state: State): void {
    this.last = { text, json: JSON.stringify(state) };
  }

  private async keepBackup(): Promise<void> {
    const temp = `${this.backupPath}.${process.pid}.tmp`;
    try {
      await copyFile(this.path, temp);
      await rename(temp, this.backupPath);
    } catch (err) {
      await rm(temp, { force: true });
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private corrupt(problem: string): BerthError {
    return new BerthError(
      'STATE_CORRUPT',
      `The state file ${this.path} is damaged: ${problem}. berth has not changed it.`,
      `Repair it by hand, or restore the last good version: cp ${this.backupPath} ${this.path}`,
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function describe(error: ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
