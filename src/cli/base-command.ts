import { Command, Errors } from '@oclif/core';
import type { Berth } from '../services/core/context.js';
import { openBerth } from '../services/engine/open.js';
import type { StateStore } from '../state/store.js';
import { type ErrorReport, reportOf, writeReport } from './error-report.js';

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
    const report = this.describe(error);
    writeReport(report, error, this.jsonEnabled());
    this.exit(report.exit);
  }

  private describe(error: Error): ErrorReport {
    // oclif's own parse errors, and a flag's value its type refused ("Parsing --port … Expected an integer…").
    const badValue = error instanceof Errors.CLIError && /^Parsing --\S+/.test(error.message);
    if (error instanceof Errors.CLIError && ('parse' in error || badValue)) {
      const [head = 'Invalid arguments.', ...rest] = error.message.split('\n').filter((l) => l.trim() && !l.startsWith('See more help'));
      const first = badValue ? `${head.replace(/^Parsing /, '').trim()}:` : head;
      const detail = rest.length ? ` ${rest.map((l) => l.trim()).join('; ')}` : '';
      return {
        code: 'USAGE',
        message: `${first}${detail}`,
        hint: `See: ${this.config.bin} ${this.id?.replaceAll(':', ' ') ?? ''} --help`,
        exit: 2,
      };
    }
    return reportOf(error);
  }
}
