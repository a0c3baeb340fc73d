import { STATUS_CODES } from 'node:http';

/**
 * What berth passes on of a VM's web app's answer: nothing the app says is trusted. The status
 * line is rebuilt from the code (the app's reason phrase is never passed on), the code must be a
 * final one (200–599), or 101 where an upgrade was asked for and agreed to, and every header must
 * be a valid field (a token for its name, no control characters in its value); hop-by-hop headers
 * are dropped, and so is what `drops` says (a Set-Cookie for berth's cookies, and on berth's own
 * origin the headers that would reach beyond the app, see app-origin.ts). An answer that breaks a rule is not
 * repaired: the request it answers gets a 502 and nothing else is touched.
 */

/** Headers that belong to one hop, never passed on (RFC 9110, 7.6.1). */
export const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The most bytes an app's head (status line and headers) may take: Node's `maxHeaderSize` on the upstream request. */
export const MAX_ANSWER_HEAD_BYTES = 16 * 1024;
/** The most header lines an app's answer may hold. */
export const MAX_ANSWER_HEADERS = 100;
/** The most 1xx interim answers (100 Continue, 103 Early Hints) an app may send before its real one. */
export const MAX_INFORMATIONAL = 8;

/** RFC 9110 5.6.2 token: a header name, an Upgrade protocol, a Connection option. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 5.5 field-value: visible characters, spaces, tabs and obs-text; no CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export const isToken = (s: string) => TOKEN.test(s);
export const isFieldValue = (s: string) => FIELD_VALUE.test(s);

/** The comma-separated tokens of a header value, lower case (Connection, Upgrade). */
export function tokenList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

export interface CheckedAnswer {
  status: number;
  /** Name/value pairs to pass on, in the app's order. */
  headers: Array<[string, string]>;
}

export interface AnswerRules {
  /** Whether a header is dropped (a Set-Cookie for berth's cookies; origin-wide headers on berth's origin). */
  drops(name: string, value: string): boolean;
  /** The protocol the client asked to upgrade to (lower case), when this answer is to an upgrade: only then is a 101 valid. */
  upgrade?: string;
}

/**
 * The app's status and headers (Node's `rawHeaders`), checked and trimmed: what may be passed on,
 * or why the answer is refused (a short reason for the 502 page and the log).
 */
export function checkAnswer(statusCode: number | undefined, rawHeaders: string[], rules: AnswerRules): CheckedAnswer | { bad: string } {
  const status = statusCode ?? 0;
  if (!Number.isInteger(status)) return { bad: 'no status code' };
  if (status === 101) {
    if (!rules.upgrade) return { bad: 'a 101 to a request that asked for no upgrade' };
  } else if (status < 200 || status > 599) return { bad: `status ${status}` };
  if (rawHeaders.length / 2 > MAX_ANSWER_HEADERS) return { bad: `more than ${MAX_ANSWER_HEADERS} headers` };
  let connection: string[] = [];
  const upgrade: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    if (!isToken(name)) return { bad: 'a header name that is not a token' };
    if (!isFieldValue(value)) return { bad: `a control character in header ${name}` };
    const lower = name.toLowerCase();
    if (lower === 'connection') connection = connection.concat(tokenList(value));
    if (lower === 'upgrade') upgrade.push(...tokenList(value));
  }
  if (status === 101) {
    // The app must agree to exactly the protocol asked for (RFC 9110 7.8), and say so for this hop.
    if (!connection.includes('upgrade')) return { bad: 'a 101 without Connection: upgrade' };
    if (upgrade.length !== 1 || upgrade[0] !== rules.upgrade) return { bad: 'a 101 to another protocol than the one asked for' };
  }
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    // Connection options name more hop-by-hop headers (RFC 9110 7.6.1).
    if (HOP.has(lower) || connection.includes(lower)) continue;
    if (rules.drops(name, value)) continue;
    headers.push([name, value]);
  }
  if (status === 101) headers.push(['Connection', 'Upgrade'], ['Upgrade', rules.upgrade as string]);
  return { status, headers };
}

/** A status line and headers written by hand (the upgrade path has a socket, not a response): `HTTP/1.1 CODE REASON`, the reason the standard one. */
export function rawHead(status: number, headers: Array<[string, string]>): string {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The flat [name, value, name, value…] list `res.writeHead` takes. */
export const flatHeaders = (headers: Array<[string, string]>): string[] => headers.flat();
