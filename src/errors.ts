/**
 * The one error type a person can act on. Every front-end (CLI, bot, SSH gateway,
 * API) maps it once: `message` says what is wrong, `hint` says how to fix it,
 * `code` is stable for scripts.
 */
export class BerthError extends Error {
  override readonly name = 'BerthError';

  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    /** A usage error: the input itself is malformed (CLI exit code 2, not 1). */
    readonly usage = false,
  ) {
    super(message);
  }

  toJSON(): { code: string; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/** Input that can never be right, whatever the state holds (bad size, bad name…). */
export function invalidInput(code: string, message: string, hint: string): BerthError {
  return new BerthError(code, message, hint, true);
}
