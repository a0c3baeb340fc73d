import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import { appIsPublic, userAppGone } from '../../src/services/access/user-app-web.js';
import {
  originMayChangeApp,
  ownWebApp,
  ownWebVm,
  resolveAppHost,
  resolveUserAppHost,
  webAccessWithdrawn,
} from '../../src/services/access/web-access.js';
import type { WebIdentity } from '../../src/services/access/web-links.js';
import type { Berth } from '../../src/services/core/context.js';
import type { State } from '../../src/state/schema.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import {
  APP_ENTER_PATH,
  APP_RESERVED_PREFIX,
  type AppRequestPath,
  appEntryPath,
  appOrigin,
  sameHostPath,
  userAppEntryPath,
  userAppOrigin,
} from '../../src/values/web-paths.js';
import type { WebMetrics } from '../metrics.js';
import { send } from './app-proxy.js';
import { type BrowserSession, BrowserSessions } from './browser-sessions.js';
import { loginPage, messagePage, securityHeaders } from './pages.js';

/**
 * Users' web apps on origins of their own (`web.apps-domain`): each VM port is the host
 * `PORT--VM--LOGIN.APPS_DOMAIN`, served at `/`. berth's own cookie never reaches such a host; a
 * browser gets in by a one-time exchange from berth's origin (its owner's berth cookie there gets
 * a ticket bound to that one host, spent at APP_ENTER_PATH into a host-only app cookie). What
 * reaches the app and what it answers is shaped here too: which cookies it never sees, which of its
 * headers are dropped when it shares berth's origin (path apps).
 */

/** The app host's ticket, for its owner: good once, this long. */
const APP_TICKET_MS = 30_000;
/** Unspent app tickets in all, and per user (the oldest goes first). */
const MAX_APP_TICKETS = 10_000;
const APP_TICKETS_PER_USER = 50;
/** App cookie sessions per user (one per app host and browser), and in all. */
const APP_SESSIONS_PER_USER = 50;
const APP_SESSIONS_MAX = 10_000;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export type AppOfHost = NonNullable<BrowserSession['app']>;

interface AppTicket {
  who: WebIdentity;
  app: AppOfHost;
  expiresAt: number;
}

/** Exchange tickets: 32 random bytes kept as their SHA-256, single use, bound to one user and one app host. */
export class AppTickets {
  private readonly tickets = new Map<string, AppTicket>();

  constructor(private readonly now: () => number = Date.now) {}

  mint(who: WebIdentity, app: AppOfHost): string {
    const now = this.now();
    for (const [key, t] of this.tickets) if (t.expiresAt <= now) this.tickets.delete(key);
    const own = [...this.tickets].filter(([, t]) => t.who.userId === who.userId);
    while (own.length >= APP_TICKETS_PER_USER) this.tickets.delete(own.shift()?.[0] ?? '');
    if (this.tickets.size >= MAX_APP_TICKETS) {
      const first = this.tickets.keys().next();
      if (!first.done) this.tickets.delete(first.value);
    }
    const token = randomBytes(32).toString('base64url');
    this.tickets.set(hash(token), { who, app, expiresAt: now + APP_TICKET_MS });
    return token;
  }

  /** The ticket, spent (gone either way), if it is live and was made for `host`; else null. */
  spend(token: string, host: string): AppTicket | null {
    if (!TOKEN.test(token)) return null;
    const key = hash(token);
    const ticket = this.tickets.get(key);
    if (!ticket) return null;
    this.tickets.delete(key);
    return ticket.expiresAt > this.now() && ticket.app.host === host ? ticket : null;
  }

  get size(): number {
    return this.tickets.size;
  }
}

/** Every value a Cookie header gives `name` (a cookie set for a parent domain may sit beside the host's own). */
export function readCookies(header: string | undefined, name: string): string[] {
  const out: string[] = [];
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) out.push(part.slice(at + 1).trim());
  }
  return out;
}

/**
 * Response headers that act on a whole origin (or its site), beyond the page that got them: an app
 * on berth's origin (path apps) could otherwise install a Service Worker over berth's pages, clear
 * berth's cookies and storage, pin HSTS or alternative services, send reports, or register
 * sign-in and session state for berth's origin.
 */
export const ORIGIN_WIDE_HEADERS = new Set([
  'service-worker-allowed',
  'clear-site-data',
  'strict-transport-security',
  'alt-svc',
  'nel',
  'report-to',
  'reporting-endpoints',
  'origin-agent-cluster',
  'set-login',
  // Client hints a browser remembers for the whole origin.
  'accept-ch',
  'critical-ch',
  // Device-bound session registration, and storage access granted to the origin.
  'sec-session-registration',
  'activate-storage-access',
]);

/** Whether a Set-Cookie value names one of `names` (berth's cookie, the app cookie): such lines are dropped. */
export const setsCookieOf = (value: string, names: readonly string[]) =>
  // A nameless cookie (`=NAME=v`) comes back from the browser as `NAME=v`: read past the empty name.
  names.includes(
    value
      .replace(/^[\s=]+/, '')
      .split('=')[0]
      ?.trim() ?? '',
  );

/**
 * Whether the proxy drops one header of an app's answer: any Set-Cookie naming berth's or the app
 * cookie; for an app on berth's origin (a path app), the headers that act on the whole origin.
 */
export function appHeaderDropped(path: AppRequestPath, name: string, value: string, cookieNames: readonly string[]): boolean {
  const lower = name.toLowerCase();
  if (lower === 'set-cookie') return setsCookieOf(value, cookieNames);
  return path.host === undefined && ORIGIN_WIDE_HEADERS.has(lower);
}

/**
 * Whether a request fetches a Service Worker's script: refused for apps on berth's origin (a worker
 * there would control berth's pages).
 */
export function fetchesServiceWorker(req: IncomingMessage): boolean {
  return req.headers['service-worker'] !== undefined || String(req.headers['sec-fetch-dest'] ?? '').toLowerCase() === 'serviceworker';
}

export interface AppOriginDeps {
  ctx: Berth;
  log: pino.Logger;
  metrics: WebMetrics;
  /** berth's public URL (its scheme and port are the app hosts'). */
  publicUrl: string;
  appCookie: string;
  secure: boolean;
  /** Ticket spends per source address (shared with the landing post). */
  spends: RateLimiterMemory;
  source(req: IncomingMessage): string;
  note(source: string, reason: string, message: string): void;
  proxyHttp(req: IncomingMessage, res: ServerResponse, path: AppRequestPath): Promise<void>;
  proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, path: AppRequestPath): Promise<void>;
}

/** Methods a page of any origin may send an app (its owner's cookie with them): they change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const NOT_AN_APP = () => messagePage(404, 'There is no web app at this address.');

/** Whether the browser's user still owns what an app host names (a VM's port, or a deployed app). */
const owns = (state: State, who: WebIdentity, app: AppOfHost) =>
  app.app !== undefined ? ownWebApp(state, who, app.login, app.app)?.id === app.appId : ownWebVm(state, who, app.login, app.vm) !== null;

/** The app hosts' side: the exchange's last step, the app cookie, then the proxy. */
export class AppOrigins {
  readonly sessions = new BrowserSessions(Date.now, { perUser: APP_SESSIONS_PER_USER, max: APP_SESSIONS_MAX });
  readonly tickets = new AppTickets();

  constructor(private readonly deps: AppOriginDeps) {}

  /**
   * The app of a host label, or null: a VM's port (`PORT--VM--LOGIN`) or a user's app with an HTTP
   * port (`app--NAME--LOGIN`); none, or a label two could claim. `open`: anyone may use it (a
   * deployed app whose owner's plan allows public apps).
   */
  private async app(label: string): Promise<{ app: AppOfHost; state: State; origin: string; open: boolean } | null> {
    const state = await this.deps.ctx.store.snapshot();
    const domain = effectiveConfig(state.config)['web.apps-domain'];
    const deployed = resolveUserAppHost(state, label);
    if (deployed !== null) {
      if (deployed === 'ambiguous' || !deployed.port) return null;
      const app = { host: label, login: deployed.user, vm: '', port: deployed.port, app: deployed.name, appId: deployed.id };
      return { app, state, origin: userAppOrigin(this.deps.publicUrl, domain, app.login, app.app), open: appIsPublic(state, deployed) };
    }
    const found = resolveAppHost(state, label);
    if (found === null || found === 'ambiguous') return null;
    const app = { host: label, ...found };
    return { app, state, origin: appOrigin(this.deps.publicUrl, domain, app.login, app.vm, app.port), open: false };
  }

  /** The app cookie session of this request that was made for this host and whose user still owns the app. */
  async authenticate(req: IncomingMessage, app: AppOfHost): Promise<BrowserSession | null> {
    const state = await this.deps.ctx.store.snapshot();
    const cfg = effectiveConfig(state.config);
    for (const token of readCookies(req.headers.cookie, this.deps.appCookie)) {
      const session = this.sessions.find(token, { idleSeconds: cfg['web.session-idle'], maxSeconds: cfg['web.session-max'] });
      if (session?.app?.host === app.host && owns(state, session.who, session.app)) return session;
    }
    return null;
  }

  /** A ticket for `who`'s app (berth's origin, after its cookie was checked); where the browser goes to spend it. */
  enterUrl(who: WebIdentity, app: AppOfHost, origin: string, to: unknown): string {
    const token = this.tickets.mint(who, app);
    return `${origin}${APP_ENTER_PATH}?ticket=${token}&to=${encodeURIComponent(sameHostPath(to))}`;
  }

  async http(req: IncomingMessage, res: ServerResponse, label: string): Promise<void> {
    const found = label ? await this.app(label) : null;
    if (!found) return send(res, NOT_AN_APP());
    const { app, origin } = found;
    const url = req.url ?? '/';
    if (url === APP_ENTER_PATH || url.startsWith(`${APP_ENTER_PATH}?`)) return this.enter(req, res, app, origin);
    if (url.startsWith(APP_RESERVED_PREFIX)) return send(res, NOT_AN_APP());
    const session = await this.authenticate(req, app);
    // A public app: anyone, cookie or not (the owner's cookie would give nothing more: no berth
    // cookie reaches the app either way), so no Origin check either.
    if (!session && found.open) return this.deps.proxyHttp(req, res, this.pathOf(app, origin));
    if (!session) {
      this.deps.metrics.refusals.inc({ reason: 'no-app-cookie' });
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, loginPage());
      // Through berth's origin, where the owner's berth cookie gets a ticket for this host.
      const berth = new URL(this.deps.publicUrl).origin;
      const entry = app.app !== undefined ? userAppEntryPath(app.login, app.app) : appEntryPath(app.login, app.vm, app.port);
      res.writeHead(302, {
        ...securityHeaders(),
        location: `${berth}${entry}?to=${encodeURIComponent(sameHostPath(url))}`,
        'content-length': 0,
      });
      res.end();
      return;
    }
    if (
      !found.open &&
      !SAFE_METHODS.has(req.method ?? '') &&
      !originMayChangeApp(await this.deps.ctx.store.snapshot(), this.deps.publicUrl, req.headers.origin, app.login)
    ) {
      // Another site's page (another user's app among them: app hosts share a site) posting to
      // this app with its owner's cookie: refused, as a browser would refuse to read the answer.
      this.deps.metrics.refusals.inc({ reason: 'origin' });
      this.deps.note(this.deps.source(req), 'origin', 'web app request refused: another origin');
      return send(
        res,
        messagePage(403, "A page of another site may not send this app requests that change things (its Origin is not the owner's)."),
      );
    }
    return this.deps.proxyHttp(req, res, this.pathOf(app, origin));
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, label: string): Promise<void> {
    const found = label ? await this.app(label) : null;
    const session = found && (await this.authenticate(req, found.app));
    if (!found || (!session && !found.open)) {
      this.deps.metrics.refusals.inc({ reason: found ? 'no-app-cookie' : 'not-an-app' });
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    return this.deps.proxyUpgrade(req, socket, head, this.pathOf(found.app, found.origin));
  }

  /** The request as the proxy takes it: the whole path, on the app's own origin. */
  private pathOf(app: AppOfHost, origin: string): AppRequestPath {
    return {
      login: app.login,
      vm: app.vm,
      port: app.port,
      prefix: '',
      strip: false,
      host: app.host,
      origin,
      ...(app.app !== undefined ? { app: app.app } : {}),
    };
  }

  /**
   * APP_ENTER_PATH?ticket=…&to=…, posted by berth's own entry page (a form, so the Origin header is
   * berth's): the ticket spent into a host-only app cookie, then on to `to` (this host only). Only
   * such a post is taken: a ticket a user minted for themselves cannot be sent to someone else's
   * browser (a link, a redirect, another site's form) to put their app in it.
   */
  private async enter(req: IncomingMessage, res: ServerResponse, app: AppOfHost, origin: string): Promise<void> {
    const source = this.deps.source(req);
    if (req.method !== 'POST' || req.headers.origin !== new URL(this.deps.publicUrl).origin) {
      this.deps.metrics.refusals.inc({ reason: 'origin' });
      this.deps.note(source, 'origin', "web app entry refused: not posted by berth's page");
      return send(res, messagePage(403, "This way into the app works only from berth's own page. Open the app again from its link."));
    }
    req.resume(); // the form's empty body
    const query = new URL(req.url ?? '/', origin).searchParams;
    const within = await this.deps.spends.consume(source).then(
      () => true,
      () => false,
    );
    if (!within) {
      this.deps.metrics.refusals.inc({ reason: 'ticket-rate' });
      return send(res, messagePage(429, 'Too many links opened from your address; wait a minute.'));
    }
    const ticket = this.tickets.spend(query.get('ticket') ?? '', app.host);
    const state = await this.deps.ctx.store.snapshot();
    if (!ticket || !owns(state, ticket.who, ticket.app)) {
      this.deps.metrics.tickets.inc({ result: 'refused' });
      this.deps.note(source, 'app-ticket', 'web app entry refused: expired, already used, unknown or for another app');
      return send(res, messagePage(410, 'This way into the app has expired or was already used. Open the app again from its link.'));
    }
    const cfg = effectiveConfig(state.config);
    const { token, session } = this.sessions.create(ticket.who, app);
    this.deps.metrics.tickets.inc({ result: 'spent' });
    this.deps.log.info(
      {
        user: ticket.who.login,
        ...(app.app !== undefined ? { app: `${app.login}/${app.app}` } : { vm: `${app.login}/${app.vm}` }),
        port: app.port,
        browser: session.tag,
        source,
      },
      'web app entered',
    );
    const cookie = `${this.deps.appCookie}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${cfg['web.session-max']}${this.deps.secure ? '; Secure' : ''}`;
    // 303: the browser goes on with a GET.
    res.writeHead(303, {
      ...securityHeaders(),
      'set-cookie': cookie,
      location: sameHostPath(query.get('to')),
      'content-length': 0,
    });
    res.end();
  }

  /** Ends the app cookies whose user lost access or whose VM or app is gone; how many. */
  revalidate(state: State): number {
    const vmGone = (s: BrowserSession) => {
      if (s.app?.app !== undefined) return userAppGone(state, s.app.login, s.app.app, s.app.appId);
      return state.vms.some((v) => v.user === s.app?.login && v.name === s.app.vm) ? null : 'the VM was removed';
    };
    return this.sessions.drop((s) => webAccessWithdrawn(state, s.who) ?? vmGone(s));
  }

  sweep(limits: { idleSeconds: number; maxSeconds: number }): void {
    this.sessions.sweep(limits);
  }
}
