import { copyFile, open, readFile, rename, rm } from 'node:fs/promises';
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
  constructor(readonly path: string) {}

  get backupPath(): string {
    return `${this.path}.bak`;
  }

  async read(): Promise<State | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new BerthError(
        'STATE_UNREADABLE',
        `Cannot read ${this.path}: ${(err as Error).message}.`,
        'Check that the file and its directory belong to the user running berth.',
      );
    }
    return this.parse(text);
  }

  parse(text: string): State {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw this.corrupt(`it is not valid JSON (${(err as Error).message})`);
    }
    const result = StateSchema.safeParse(migrate(raw, this.path));
    if (!result.success) throw this.corrupt(describe(result.error));
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
