import { BerthError, invalidInput } from '../errors.js';
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

/** The cookie that lets a browser into one app host (host-only, set by berth's exchange there). */
export function appCookieName(publicUrl: string, instanceId: string): string {
  const tag = instanceId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12);
  return isHttpsUrl(publicUrl) ? `__Host-berth-app-${tag}` : `berth-app-${tag}`;
}

/**
 * The cookie of a replay grant (set for one recording's path, `/replay/ID`): a narrower path than
 * `/` cannot have the `__Host-` prefix, so over HTTPS it is `__Secure-` (Secure required).
 */
export function replayCookieName(publicUrl: string, instanceId: string): string {
  const tag = instanceId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12);
  return isHttpsUrl(publicUrl) ? `__Secure-berth-replay-${tag}` : `berth-replay-${tag}`;
}

/** The cookie of a snapshot download grant (set for one download's path, like a replay grant's). */
export function downloadCookieName(publicUrl: string, instanceId: string): string {
  const tag = instanceId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12);
  return isHttpsUrl(publicUrl) ? `__Secure-berth-download-${tag}` : `berth-download-${tag}`;
}

/**
 * `web.apps-domain`: a DNS name (e.g. apps.example.com, or localhost on a loopback deployment)
 * under which each VM port is an origin of its own; empty = not set.
 */
export function checkAppsDomain(input: string): string {
  const text = input.trim().toLowerCase().replace(/\.$/, '');
  if (text === '') return '';
  const labels = text.split('.');
  const ok =
    text.length <= 200 &&
    labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1] ?? '');
  if (!ok) {
    throw invalidInput(
      'INVALID_APPS_DOMAIN',
      `"${printable(input).slice(0, 100)}" is not a valid web.apps-domain: it must be a DNS name (letters, digits and hyphens between dots), not an address or URL.`,
      'Write the domain whose wildcard (*.DOMAIN) points at berth, e.g. apps.example.com (or localhost when berth is only used on this machine).',
    );
  }
  return text;
}

/** The longest DNS label. */
const MAX_LABEL = 63;

/** The host label of a VM port's app: `PORT--VM--LOGIN`. */
export function appHostLabel(login: string, vm: string, port: number): string {
  const label = `${port}--${vm}--${login}`;
  if (label.length > MAX_LABEL) {
    throw new BerthError(
      'WEB_APP_HOST_TOO_LONG',
      `The app host name ${label} is ${label.length} characters long; a DNS name's label holds at most ${MAX_LABEL}, so the app of port ${port} of ${login}/${vm} cannot have an origin of its own.`,
      "Use a VM with a shorter name, or ask the operator to turn on path apps (web.path-apps: the app then runs on berth's own origin).",
    );
  }
  return label;
}

/**
 * The origin of a VM port's app: berth's public URL's scheme and port, the host
 * `PORT--VM--LOGIN.APPS_DOMAIN`.
 */
export function appOrigin(publicUrl: string, appsDomain: string, login: string, vm: string, port: number): string {
  const url = new URL(publicUrl);
  return `${url.protocol}//${appHostLabel(login, vm, port)}.${appsDomain}${url.port ? `:${url.port}` : ''}`;
}

/** The host name (lower case, no port, no trailing dot) of a Host header. */
export function hostName(header: string | undefined): string {
  const text = (header ?? '').trim().toLowerCase();
  const name = text.startsWith('[') ? text.slice(0, text.indexOf(']') + 1) : text.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/**
 * What a host name is to the apps domain: null when it is not under it (berth's own pages then),
 * else the app's label (`PORT--VM--LOGIN`), or '' for a host under the apps domain that names no app.
 */
export function appsHostLabel(host: string, appsDomain: string): string | null {
  if (!appsDomain) return null;
  if (host === appsDomain) return '';
  if (!host.endsWith(`.${appsDomain}`)) return null;
  const label = host.slice(0, -appsDomain.length - 1);
  return /^[a-z0-9-]{1,63}$/.test(label) ? label : '';
}

/**
 * The ways a label `PORT--VM--LOGIN` splits into a login and a VM name that follow their rules
 * (either may itself hold `--`): which one names an app is for the state to say.
 */
export function appLabelCandidates(label: string): Array<{ login: string; vm: string; port: number }> {
  const m = /^([1-9]\d{0,4})--(.+)$/.exec(label);
  if (!m) return [];
  const port = Number(m[1]);
  const rest = m[2] ?? '';
  if (port > 65535) return [];
  const out: Array<{ login: string; vm: string; port: number }> = [];
  for (let at = rest.indexOf('--'); at >= 0; at = rest.indexOf('--', at + 1)) {
    const vm = rest.slice(0, at);
    const login = rest.slice(at + 2);
    if (VM_NAME.test(vm) && LOGIN_PATTERN.test(login)) out.push({ login, vm, port });
  }
  return out;
}

/**
 * The host label of a user's app (a deployed bot or service, not a VM port): `app--NAME--LOGIN`.
 * A VM port's label starts with its port number, this one with a letter: the two never meet.
 */
export function userAppHostLabel(login: string, name: string): string {
  const label = `app--${name}--${login}`;
  if (label.length > MAX_LABEL) {
    throw new BerthError(
      'WEB_APP_HOST_TOO_LONG',
      `The app host name ${label} is ${label.length} characters long; a DNS name's label holds at most ${MAX_LABEL}, so the app ${login}/${name} cannot have an origin of its own.`,
      'Deploy the app again under a shorter name (berth app deploy … --name NAME).',
    );
  }
  return label;
}

/** The origin of a user's app: berth's public URL's scheme and port, the host `app--NAME--LOGIN.APPS_DOMAIN`. */
export function userAppOrigin(publicUrl: string, appsDomain: string, login: string, name: string): string {
  const url = new URL(publicUrl);
  return `${url.protocol}//${userAppHostLabel(login, name)}.${appsDomain}${url.port ? `:${url.port}` : ''}`;
}

/**
 * The ways a label `app--NAME--LOGIN` splits into an app name and a login that follow their rules
 * (either may itself hold `--`): which one names an app is for the state to say.
 */
export function userAppLabelCandidates(label: string): Array<{ login: string; name: string }> {
  if (!label.startsWith('app--')) return [];
  const rest = label.slice('app--'.length);
  const out: Array<{ login: string; name: string }> = [];
  for (let at = rest.indexOf('--'); at >= 0; at = rest.indexOf('--', at + 1)) {
    const name = rest.slice(0, at);
    const login = rest.slice(at + 2);
    if (VM_NAME.test(name) && LOGIN_PATTERN.test(login)) out.push({ login, name });
  }
  return out;
}

/** berth's route that starts the exchange for a user's app (two segments; a VM port's has three). */
export const userAppEntryPath = (login: string, name: string) => `/apps/${login}/${name}`;

/** The paths of an app host that berth serves itself (the app never sees them). */
export const APP_RESERVED_PREFIX = '/__berth/';
/** Where an app host spends an exchange ticket into its app cookie. */
export const APP_ENTER_PATH = '/__berth/enter';
/** berth's route that starts the exchange for an app (its owner's berth cookie gets an app-host ticket). */
export const appEntryPath = (login: string, vm: string, port: number) => `/apps/${login}/${vm}/${port}`;

/**
 * A path to go to after an exchange: a path of the same host (never `//host` or `/\host`, no
 * control characters); anything else is `/`.
 */
export function sameHostPath(input: unknown): string {
  if (typeof input !== 'string' || input.length > 4096) return '/';
  // Printable ASCII only (a request's path is; anything else percent-encoded), no backslash (`/\\host` is `//host` to a browser).
  if (!/^\/[!-~]*$/.test(input) || input.startsWith('//') || input.includes('\\')) return '/';
  if (input.startsWith(APP_RESERVED_PREFIX)) return '/';
  return input;
}

/** VM names follow the plan-name rule (checkShortName). */
const VM_NAME = PLAN_NAME_PATTERN;

export const LANDING_PATH = '/t';
export const terminalPath = (login: string, vm: string) => `/terminal/${login}/${vm}`;
/** A session recording's replay page (its cast at `…/cast`). */
export const replayPath = (id: string) => `/replay/${id}`;
/** A snapshot of a home as a gzipped tar archive: `/backups/HOME/SNAPSHOT.tar.gz` (its download grant's path). */
export const backupDownloadPath = (home: string, snapshot: string) => `/backups/${home}/${snapshot}.tar.gz`;

/** The home and snapshot of a download path's parts (12 and 8 hex digits), or null. */
export function parseBackupDownload(home: string, file: string): { home: string; snapshot: string } | null {
  const m = /^([0-9a-f]{8})\.tar\.gz$/.exec(file);
  return /^[0-9a-f]{12}$/.test(home) && m?.[1] ? { home, snapshot: m[1] } : null;
}
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

/** Where a link's ticket lands: a VM's target, or (`user-app`: no VM) one of the user's deployed apps. */
export type TicketTarget =
  | WebTarget
  | { kind: 'user-app'; app: string }
  | { kind: 'recording'; id: string }
  | { kind: 'backup'; home: string; snapshot: string };

export interface AppRequestPath {
  login: string;
  vm: string;
  port: number;
  /** The prefix the app lives under: `/vm/alice/main/8000`. */
  prefix: string;
  /** `/app/…`: the app is sent the path without the prefix. */
  strip: boolean;
  /** On its own origin (web.apps-domain): the app host's label; absent for a path app on berth's origin. */
  host?: string;
  /** The Origin an upgrade must carry: the app's own (absent: berth's). */
  origin?: string;
  /**
   * A user's app (its name) on its own origin, not a VM port: `vm` is then '' and means nothing,
   * `port` is the app's. Every reader of `vm` asks this first.
   */
  app?: string;
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
