import { BerthError, type ErrorCode } from '../errors.js';

export interface ErrorReport {
  code: ErrorCode;
  message: string;
  hint: string;
  exit: number;
}

/**
 * What the CLI tells a person about an error that is not oclif's own: a BerthError as it is
 * (exit 2 for usage errors, 1 otherwise), anything else as an unexpected one. One mapping for
 * every command and for the launcher's fast path (bin/run.js).
 */
export function reportOf(error: Error): ErrorReport {
  if (error instanceof BerthError) {
    return { code: error.code, message: error.message, hint: error.hint, exit: error.usage ? 2 : 1 };
  }
  return {
    code: 'INTERNAL',
    message: `Unexpected error: ${error.message}`,
    hint: 'Run again with BERTH_DEBUG=1 to see where it happened, and report it.',
    exit: 1,
  };
}

/** Writes the report to stderr: two lines (what is wrong, how to fix it), or one JSON object with --json. */
export function writeReport(report: ErrorReport, error: Error, json: boolean): void {
  const { code, message, hint } = report;
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: { code, message, hint } })}\n`);
  } else {
    process.stderr.write(`Error: ${message}\n${hint}\n`);
  }
  if (process.env.BERTH_DEBUG === '1' && error.stack) process.stderr.write(`${error.stack}\n`);
}
