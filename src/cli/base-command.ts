import { Command, Errors } from '@oclif/core';
import { BerthError, type ErrorCode } from '../errors.js';
import type { Berth } from '../services/core/context.js';
import { openBerth } from '../services/engine/open.js';
import type { StateStore } from '../state/store.js';

/**
 * Every berth command: `--json`, the state store, and one mapping of errors to
 * two lines on stderr (what is wrong, how to fix it) and an exit code
 * (2 for usage errors, 1 for everything else).
 */
export abstract class BerthCommand extends Command {
  static override enableJsonFlag = true;

  private context?: Berth;

  /** The state and the Docker engine, as every service takes them. */
  protected get berth(): Berth {
    this.context ??= openBerth();
    return this.context;
  }

  protected get store(): StateStore {
    return this.berth.store;
  }

  /** Progress and notes for a person: stderr, and only without --json. */
  protected note(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${text}\n`);
  }

  override async catch(error: Error): Promise<never> {
    if (error instanceof Errors.ExitError) throw error;
    const { code, message, hint, exit } = this.describe(error);
    if (this.jsonEnabled()) {
      process.stderr.write(`${JSON.stringify({ error: { code, message, hint } })}\n`);
    } else {
      process.stderr.write(`Error: ${message}\n${hint}\n`);
    }
    if (process.env.BERTH_DEBUG === '1' && error.stack) process.stderr.write(`${error.stack}\n`);
    this.exit(exit);
  }

  private describe(error: Error): { code: ErrorCode; message: string; hint: string; exit: number } {
    if (error instanceof BerthError) {
      return { code: error.code, message: error.message, hint: error.hint, exit: error.usage ? 2 : 1 };
    }
    if (error instanceof Errors.CLIError && 'parse' in error) {
      const [first = 'Invalid arguments.', ...rest] = error.message.split('\n').filter((l) => l.trim() && !l.startsWith('See more help'));
      const detail = rest.length ? ` ${rest.map((l) => l.trim()).join('; ')}` : '';
      return {
        code: 'USAGE',
        message: `${first}${detail}`,
        hint: `See: ${this.config.bin} ${this.id?.replaceAll(':', ' ') ?? ''} --help`,
        exit: 2,
      };
    }
    return {
      code: 'INTERNAL',
      message: `Unexpected error: ${error.message}`,
      hint: 'Run again with BERTH_DEBUG=1 to see where it happened, and report it.',
      exit: 1,
    };
  }
}
