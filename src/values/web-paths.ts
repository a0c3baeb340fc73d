import { invalidInput } from '../errors.js';
import { LOGIN_PATTERN, PLAN_NAME_PATTERN, printable } from './names.js';

/**
 * The web server's addresses, as pure functions: the public URL an operator sets, the paths of a
 * VM's terminal and of its web apps, and the cookie's name. The bot, the CLI and the daemon's web
 * server all build and read them here.
 */

/** `web.public-url`: an http(s) origin (scheme, host, port), nothing more. */
export function checkPublicUrl(input: string): string {
  const text = input.trim();
  if (text === '') return '';
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  const bad = (why: string) =>
    invalidInput(
      'INVALID_URL',
      `"${printable(text).slice(0, 100)}" is not a valid web.public-url: ${why}.`,
      'Write the origin users open, e.g. https://berth.example.com (a host of its own: no path, query or user name).',
    );
  if (!url || !['http:', 'https:'].includes(url.protocol)) throw bad('it must be an http:// or https:// URL');
  if (url.username || url.password) throw bad('it must not hold a user name or password');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw bad('it must have no path, query or fragment');
  return url.origin;
}

/** The URL users are given: `web.public-url`, else `http://` + the listen address. */
export function webPublicUrl(config: { 'web.public-url': string; 'web.listen': string }): string {
  return config['web.public-url'] || `http://${config['web.listen']}`;
}

/** Whether the public URL is HTTPS (the cookie is then `__Host-` prefixed and Secure). */
export const isHttpsUrl = (url: string) => url.startsWith('https:');

/** The session cookie's name; one per berth home, so that two homes on one host never share it. */
export function cookieName(publicUrl: string, instanceId: string): string {
  const tag = instanceId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12);
  return isHttpsUrl(publicUrl) ? `__Host-berth-${tag}` : `berth-${tag}`;
}

/** VM names follow the plan-name rule (checkShortName). */
const VM_NAME = PLAN_NAME_PATTERN;

export const LANDING_PATH = '/t';
export const terminalPath = (login: string, vm: string) => `/terminal/${login}/${vm}`;
/**
 * A VM's web app: `/vm/…` passes the whole path on (for apps run under that prefix: Jupyter's
 * base_url, Vite's --base), `/app/…` takes the prefix off (for apps with relative links that serve
 * at `/`: code-server, a plain static server).
 */
export const appPath = (login: string, vm: string, port: number, strip = false) => `/${strip ? 'app' : 'vm'}/${login}/${vm}/${port}/`;

/** A TCP port of a VM's web app: 1 to 65535. */
export function checkPort(input: string | number): number {
  const text = String(input).trim();
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) {
    throw invalidInput('INVALID_PORT', `"${printable(text).slice(0, 20)}" is not a port.`, 'Give a TCP port from 1 to 65535, e.g. 8000.');
  }
  return port;
}

/** Where a web link lands: a VM's terminal, or one of its ports. */
export type WebTarget = { kind: 'terminal' } | { kind: 'app'; port: number; strip?: boolean };

export interface AppRequestPath {
  login: string;
  vm: string;
  port: number;
  /** The prefix the app lives under: `/vm/alice/main/8000`. */
  prefix: string;
  /** `/app/…`: the app is sent the path without the prefix. */
  strip: boolean;
}

/**
 * A request for a VM's web app: `/vm/LOGIN/VM/PORT` (or `/app/…`) followed by `/`, `?` or the end.
 * Only exact names pass (no encoded characters, no dot segments): what is not one of these is not proxied.
 */
export function parseAppPath(rawUrl: string): AppRequestPath | null {
  const m = /^\/(vm|app)\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)(?=[/?]|$)/.exec(rawUrl);
  if (!m) return null;
  const [prefix, kind, login = '', vm = '', portText = ''] = m;
  if (!LOGIN_PATTERN.test(login) || !VM_NAME.test(vm) || !/^[1-9]\d{0,4}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { login, vm, port, prefix, strip: kind === 'app' };
}

/** A terminal page or its WebSocket: `/terminal/LOGIN/VM` (and `/ws`). */
export function parseTerminalPath(path: string): { login: string; vm: string } | null {
  const m = /^\/terminal\/([^/?#]+)\/([^/?#]+)(?:\/ws)?$/.exec(path);
  if (!m) return null;
  const [, login = '', vm = ''] = m;
  return LOGIN_PATTERN.test(login) && VM_NAME.test(vm) ? { login, vm } : null;
}
