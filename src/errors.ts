import type { ErrorCode } from './errors/areas.js';

export type { ErrorCode } from './errors/areas.js';

/**
 * The one error type a person can act on. Every front-end (CLI, bot, SSH gateway,
 * API) maps it once: `message` says what is wrong, `hint` says how to fix it,
 * `code` is stable for scripts: one of the codes listed, with their meaning, in src/errors/
 * (docs/errors.md).
 */
export class BerthError extends Error {
  override readonly name = 'BerthError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string,
    /** A usage error: the input itself is malformed (CLI exit code 2, not 1). */
    readonly usage = false,
  ) {
    super(message);
  }

  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/** Input that can never be right, whatever the state holds (bad size, bad name…). */
export function invalidInput(code: ErrorCode, message: string, hint: string): BerthError {
  return new BerthError(code, message, hint, true);
}
