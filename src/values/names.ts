import { invalidInput } from '../errors.js';

/** A login is the SSH login, the Linux user inside the VM and part of Docker names. */
export const LOGIN_PATTERN = /^[a-z][a-z0-9-]{1,31}$/;
export const PLAN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** Accounts that base images already have, or that would mislead in logs and prompts. */
const RESERVED_LOGINS = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'list',
  'irc',
  'gnats',
  'nobody',
  'systemd-network',
  'systemd-resolve',
  'messagebus',
  'sshd',
  'ubuntu',
  'debian',
  'admin',
  'berth',
  'docker',
]);

export function checkLogin(input: string): string {
  if (!LOGIN_PATTERN.test(input)) {
    throw invalidInput(
      'INVALID_LOGIN',
      `"${printable(input)}" is not a valid login.`,
      'A login is 2–32 characters: a lowercase letter, then lowercase letters, digits or "-".',
    );
  }
  if (RESERVED_LOGINS.has(input)) {
    throw invalidInput('RESERVED_LOGIN', `"${input}" is reserved for the system.`, 'Choose another login.');
  }
  return input;
}

/** Plan and VM names: 1–32 characters, a lowercase letter first. */
export function checkShortName(input: string, what: 'plan' | 'VM' | 'app'): string {
  if (!PLAN_NAME_PATTERN.test(input)) {
    throw invalidInput(
      what === 'plan' ? 'INVALID_PLAN_NAME' : what === 'VM' ? 'INVALID_VM_NAME' : 'INVALID_APP_NAME',
      `"${printable(input)}" is not a valid ${what} name.`,
      `${what === 'app' ? 'An' : 'A'} ${what} name is 1–32 characters: a lowercase letter, then lowercase letters, digits or "-".`,
    );
  }
  return input;
}

export const checkPlanName = (input: string) => checkShortName(input, 'plan');

/** Hostile input is echoed back safely: control characters escaped, length capped. */
export function printable(input: string, max = 40): string {
  const cut = input.length > max ? `${input.slice(0, max)}…` : input;
  return JSON.stringify(cut).slice(1, -1);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * Text a person's terminal can show safely: control characters (C0 but tab, DEL, C1) and the
 * Unicode marks that reorder or hide text (bidi overrides and isolates, zero-width marks) are
 * written as visible escapes (`\x1b`, `\u202e`), so that a user-controlled string (a command run
 * over SSH, a key comment, a Telegram name, a reason) can never move the cursor, retitle the
 * window, clear the screen or reverse what the operator reads.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * One line of JSON (a log line) made as safe for a terminal as `terminalSafe` makes text, with
 * JSON's own escape (`\u202e`), so that the line is still the same JSON document: such
 * characters can only stand inside its strings. A line break ends the line, so none is left in it.
 */
export function jsonLineSafe(line: string): string {
  return line.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
