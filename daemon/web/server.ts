import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import ipaddr from 'ipaddr.js';
import type pino from 'pino';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { recordingNoticeFor } from '../../src/domain/recording.js';
import { BerthError, type ErrorCode } from '../../src/errors.js';
import { packageRoot } from '../../src/package-root.js';
import { checkBackupViewer } from '../../src/services/access/backup-links.js';
import { checkReplayViewer, isOperatorViewer } from '../../src/services/access/recording-links.js';
import { checkRecordingId, type RecordingView, recordingStream } from '../../src/services/access/recordings.js';
import { ticketLanding } from '../../src/services/access/user-app-web.js';
import { ownWebVm, webAccessWithdrawn } from '../../src/services/access/web-access.js';
import { appAddress, type TicketBook, type WebTicket } from '../../src/services/access/web-links.js';
import { gzippedSnapshot } from '../../src/services/backups/download.js';
import type { Berth } from '../../src/services/core/context.js';
import { engineDeadlineMs } from '../../src/services/engine/deadline.js';
import { type ConfigValues, effectiveConfig } from '../../src/values/config-keys.js';
import {
  type AppRequestPath,
  appCookieName,
  appHostLabel,
  appOrigin,
  appsHostLabel,
  backupDownloadPath,
  cookieName,
  downloadCookieName,
  hostName,
  isHttpsUrl,
  LANDING_PATH,
  parseAppPath,
  parseBackupDownload,
  replayCookieName,
  replayPath,
  sameHostPath,
  webPublicUrl,
} from '../../src/values/web-paths.js';
import { LogSummary } from '../log-summary.js';
import type { WebMetrics } from '../metrics.js';
import { recordingMetrics } from '../metrics.js';
import { Recorder } from '../recorder.js';
import type { SessionRegistry } from '../sessions.js';
import { watchDir } from '../state-watch.js';
import { API_PREFIX } from './api-routes.js';
import { AppOrigins, appHeaderDropped, fetchesServiceWorker, readCookies } from './app-origin.js';
import { AppProxy, send } from './app-proxy.js';
import { appsApi } from './apps-api.js';
import { type BrowserSession, BrowserSessions } from './browser-sessions.js';
import { type DoorLimits, guardConnections } from './connection-limits.js';
import {
  appEntryPage,
  landingPage,
  loginPage,
  messagePage,
  notFoundPage,
  type Page,
  pathAppsOffPage,
  replayPage,
  securityHeaders,
  terminalPage,
} from './pages.js';
import { type ReplayGrant, ReplayGrants } from './replay-grants.js';
import { WebTerminals } from './terminal.js';
import { userAppEntryRoutes } from './user-app-entry.js';

/** What the landing page's and the app entry's posts are answered: a refusal with one of the listed codes, or where to go. */
type WebAnswer = { code: ErrorCode; message: string; current?: string; next?: string } | { location: string; download?: boolean };

export interface WebServerOptions {
  ctx: Berth;
  log: pino.Logger;
  metrics: WebMetrics;
  /** The daemon's session registry, shared with the SSH gateway. */
  registry: SessionRegistry;
  tickets: TicketBook;
  deadlineMs?: number;
  /** Records web terminals (sessions.record); its own when none is given. */
  recorder?: Recorder;
}

/** The files the pages load, built into dist/web/assets by `npm run build` (scripts/web-assets.js). */
const ASSETS: Record<string, string> = {
  'xterm.js': 'text/javascript; charset=utf-8',
  'addon-fit.js': 'text/javascript; charset=utf-8',
  'terminal.js': 'text/javascript; charset=utf-8',
  'landing.js': 'text/javascript; charset=utf-8',
  'app-entry.js': 'text/javascript; charset=utf-8',
  'asciinema-player.js': 'text/javascript; charset=utf-8',
  'replay.js': 'text/javascript; charset=utf-8',
  'xterm.css': 'text/css; charset=utf-8',
  'asciinema-player.css': 'text/css; charset=utf-8',
  'page.css': 'text/css; charset=utf-8',
};

/** Ticket posts one source address may make a minute (each costs a hash; a forged one gets nothing). */
const SPEND_RATE = 30;
/** A request's headers must arrive this soon, and all of it (body included) within REQUEST_MS. */
const HEADERS_MS = 10_000;
const REQUEST_MS = 5 * 60_000;
/** A connection with no traffic this long is closed. */
const SOCKET_IDLE_MS = 2 * 60_000;
const MAX_CONNECTIONS = 4096;
/** How long a spent download link's grant lasts (it is used once). */
const DOWNLOAD_GRANT_MS = 5 * 60_000;
/** Snapshot downloads streaming at once: per viewer, and in all (each runs a restic container). */
const DOWNLOADS_PER_VIEWER = 2;
const MAX_DOWNLOADS = 4;

function hostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}

const isLoopback = (host: string) => host === 'localhost' || (ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback');
const isUnspecified = (host: string) => ipaddr.isValid(host) && ipaddr.process(host).range() === 'unspecified';

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

async function loadAssets(): Promise<Map<string, { type: string; body: Buffer }>> {
  const dir = join(packageRoot(), 'dist', 'web', 'assets');
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = await readFile(join(dir, name)).catch(() => {
      throw new BerthError(
        'WEB_ASSETS_MISSING',
        `The web terminal's files are missing (${join(dir, name)}).`,
        'Build berth: npm run build',
      );
    });
    out.set(name, { type, body });
  }
  return out;
}

async function loadTls(cfg: ConfigValues): Promise<{ cert: Buffer; key: Buffer } | null> {
  const certPath = cfg['web.tls-cert'];
  const keyPath = cfg['web.tls-key'];
  if (!certPath && !keyPath) return null;
  if (!certPath || !keyPath) {
    throw new BerthError(
      'WEB_TLS_INCOMPLETE',
      'web.tls-cert and web.tls-key go together; only one is set.',
      'Set both (or unset both for plain HTTP).',
    );
  }
  const read = (path: string, what: string) =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new BerthError(
        'WEB_TLS_UNREADABLE',
        `The ${what} ${path} could not be read (${err.code ?? err.message}).`,
        `Fix web.tls-${what === 'certificate' ? 'cert' : 'key'} or the file's permissions.`,
      );
    });
  return { cert: await read(certPath, 'certificate'), key: await read(keyPath, 'key') };
}

const doorLimits = (cfg: ConfigValues): DoorLimits => ({
  perSource: cfg['web.max-startups-per-source'],
  graceMs: cfg['web.header-timeout'] * 1000,
});

const pageReply = (reply: FastifyReply, page: Page) => reply.code(page.status).headers(page.headers).send(page.body);

/**
 * The daemon's web server (a fastify instance of its own): one-time links become browser
 * sessions (a cookie), the terminal page and its WebSocket, and the users' web apps at
 * `/vm/LOGIN/VM/PORT/…`. Every request and upgrade checks the cookie and that its user owns the VM.
 */
export class WebServer {
  address = '';
  publicUrl = '';
  private origin = '';
  private cookie = '';
  private replayCookie = '';
  private downloadCookie = '';
  private secure = false;
  private appOrigins: AppOrigins | null = null;
  private readonly browsers = new BrowserSessions();
  /** Spent replay links: each lets one browser watch one recording (never a browser session). */
  private readonly grants = new ReplayGrants();
  /** Spent download links: each lets one browser download one snapshot, once, within DOWNLOAD_GRANT_MS. */
  private readonly downloadGrants = new ReplayGrants(Date.now, { ttlMs: DOWNLOAD_GRANT_MS });
  /** Downloads streaming now, per viewer (user id). */
  private readonly streaming = new Map<string, number>();
  private readonly terminals: WebTerminals;
  private proxy: AppProxy | null = null;
  private app: FastifyInstance | null = null;
  private watcher: { close(): void } | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly spends = new RateLimiterMemory({ points: SPEND_RATE, duration: 60 });
  /** Refusals, summarised per source and reason (a client retrying in a loop costs a line per interval). */
  private readonly summary: LogSummary;
  /** Upgrades checked by their route's hook, for its handler. */
  private readonly upgraded = new WeakMap<IncomingMessage, BrowserSession>();
  /** The door's limits (web.max-startups-per-source, web.header-timeout), kept current with the config. */
  private door: DoorLimits = { perSource: 20, graceMs: 10_000 };

  constructor(private readonly options: WebServerOptions) {
    this.summary = new LogSummary(options.log);
    this.terminals = new WebTerminals({
      ctx: options.ctx,
      log: options.log,
      metrics: options.metrics,
      registry: options.registry,
      deadlineMs: options.deadlineMs ?? engineDeadlineMs(),
      recorder: options.recorder ?? new Recorder({ home: options.ctx.store.home, log: options.log, metrics: recordingMetrics() }),
    });
  }

  async start(): Promise<string> {
    const { ctx, log, metrics } = this.options;
    const state = await ctx.store.read();
    const cfg = effectiveConfig(state.config);
    const listen = cfg['web.listen'];
    const { host, port } = hostPort(listen);
    const tls = await loadTls(cfg);
    if (!tls && !isLoopback(host) && !cfg['web.insecure-http']) {
      throw new BerthError(
        'WEB_INSECURE',
        `web.listen ${listen} is not a loopback address, and plain HTTP there would carry the session cookie in the clear.`,
        'Listen on 127.0.0.1 behind a reverse proxy, or serve HTTPS (web.tls-cert, web.tls-key), or — only behind a proxy that adds TLS — berth config set web.insecure-http on',
      );
    }
    if (!cfg['web.public-url'] && isUnspecified(host)) {
      throw new BerthError(
        'WEB_PUBLIC_URL_MISSING',
        `web.listen ${listen} listens on every address and web.public-url is not set: berth cannot tell which URL users open.`,
        'Set it: berth config set web.public-url https://berth.example.com',
      );
    }
    this.publicUrl = webPublicUrl(cfg).replace(/^http:/, tls && !cfg['web.public-url'] ? 'https:' : 'http:');
    this.origin = new URL(this.publicUrl).origin;
    this.secure = isHttpsUrl(this.publicUrl);
    this.cookie = cookieName(this.publicUrl, state.instanceId);
    this.replayCookie = replayCookieName(this.publicUrl, state.instanceId);
    this.downloadCookie = downloadCookieName(this.publicUrl, state.instanceId);
    const appsDomain = cfg['web.apps-domain'];
    const publicHost = new URL(this.publicUrl).hostname.replace(/^\[|\]$/g, '');
    if (appsDomain && appsHostLabel(publicHost, appsDomain) !== null) {
      throw new BerthError(
        'WEB_APPS_DOMAIN_OVERLAP',
        `berth's own address ${this.publicUrl} is under web.apps-domain ${appsDomain}: every host there is an app's, never berth's.`,
        `Give the apps a domain of their own (e.g. apps.example.com for berth.example.com): berth config set web.apps-domain DOMAIN`,
      );
    }
    const cookieNames = [this.cookie, appCookieName(this.publicUrl, state.instanceId)];
    const assets = await loadAssets();
    this.door = doorLimits(cfg);
    const proxy = new AppProxy({
      ctx,
      log,
      metrics,
      registry: this.options.registry,
      cookieNames,
      publicOrigin: this.origin,
      // A path app is reached with berth's cookie; an app on its own origin with that host's app cookie.
      authenticate: (req, path) => (path.host === undefined ? this.authenticate(req) : this.appCookieSession(req, path)),
      dropsHeader: (path, name, value) => appHeaderDropped(path, name, value, cookieNames),
      source: (req) => this.source(req),
    });
    this.proxy = proxy;
    const origins = new AppOrigins({
      ctx,
      log,
      metrics,
      publicUrl: this.publicUrl,
      appCookie: cookieNames[1] as string,
      secure: this.secure,
      spends: this.spends,
      source: (req) => this.source(req),
      note: (source, reason, message) => this.summary.note(source, reason, message),
      proxyHttp: (req, res, path) => proxy.http(req, res, path),
      proxyUpgrade: (req, socket, head, path) => proxy.upgrade(req, socket, head, path),
    });
    this.appOrigins = origins;

    // A host under web.apps-domain is only ever an app (never berth's pages); on berth's host,
    // path apps (when on) go to the proxy untouched (their bodies are the app's, streamed), and
    // everything else, upgrades included, to fastify.
    const upgrades = new EventEmitter();
    const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
      const route = async (req: IncomingMessage, res: ServerResponse) => {
        const cfg = effectiveConfig((await ctx.store.snapshot()).config);
        const label = appsHostLabel(hostName(req.headers.host), cfg['web.apps-domain']);
        if (label !== null) return origins.http(req, res, label);
        const app = parseAppPath(req.url ?? '');
        if (!app) return handler(req, res);
        const refusal = this.pathAppRefusal(req, app, cfg);
        if (refusal) return send(res, refusal);
        return proxy.http(req, res, app);
      };
      const dispatch = (req: IncomingMessage, res: ServerResponse) => {
        route(req, res).catch((err) => {
          log.warn({ err: String(err) }, 'web app request failed');
          send(res, messagePage(502, 'The app did not answer.'));
        });
      };
      // The door below cuts a connection whose handshake and first head take longer than
      // web.header-timeout (and logs it); TLS's own handshake timeout stays Node's longer default,
      // so it never closes such a connection first, unlogged.
      const server = (tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, dispatch) : createHttpServer(dispatch)) as Server;
      guardConnections(
        server,
        () => this.door,
        (source, why) => {
          metrics.refusals.inc({ reason: why });
          this.summary.note(source, why, 'web connections dropped before their first request');
        },
      );
      server.headersTimeout = HEADERS_MS;
      server.requestTimeout = REQUEST_MS;
      server.keepAliveTimeout = 5000;
      server.maxConnections = MAX_CONNECTIONS;
      server.setTimeout(SOCKET_IDLE_MS);
      const routeUpgrade = async (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
        const cfg = effectiveConfig((await ctx.store.snapshot()).config);
        const label = appsHostLabel(hostName(req.headers.host), cfg['web.apps-domain']);
        if (label !== null) return origins.upgrade(req, socket, head, label);
        const app = parseAppPath(req.url ?? '');
        if (!app) {
          upgrades.emit('upgrade', req, socket, head);
          return;
        }
        const refusal = this.pathAppRefusal(req, app, cfg);
        if (refusal) {
          socket.end(`HTTP/1.1 ${refusal.status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        return proxy.upgrade(req, socket, head, app);
      };
      server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
        socket.on('error', () => undefined);
        routeUpgrade(req, socket, head).catch(() => socket.destroy());
      });
      server.on('clientError', (_err, socket) => socket.destroy());
      return server;
    };
    const app = Fastify({ logger: false, bodyLimit: 16 * 1024, serverFactory: serverFactory as never }) as unknown as FastifyInstance;
    this.app = app;
    await app.register(websocket, {
      options: { server: upgrades as unknown as Server, maxPayload: 64 * 1024 },
      errorHandler: (_err, socket) => socket.terminate(),
    });
    // The HTTP API for users' tokens (web.api): its own error shape, body limits and rate limits.
    await app.register(
      appsApi({
        ctx,
        log,
        metrics,
        source: (req) => this.source(req),
        note: (source, reason, message, fields) => this.summary.note(source, reason, message, fields),
        idleMs: SOCKET_IDLE_MS,
      }),
      { prefix: API_PREFIX },
    );
    this.routes(app, assets);
    await app.listen({ host, port });
    const bound = app.server.address() as AddressInfo;
    this.address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    this.watcher = watchDir(
      ctx.store.home,
      (file) => file === 'state.json',
      async () => {
        await this.revalidate();
      },
      (err) => log.warn({ err: String(err) }, 'web: re-checking live access failed'),
    );
    this.sweeper = setInterval(() => void this.sweep(), 60_000);
    this.sweeper.unref();
    return this.address;
  }

  /** Ends what a withdrawn access (revoked, removed, role changed) or a removed VM still held. */
  async revalidate(): Promise<number> {
    const state = await this.options.ctx.store.read();
    this.door = doorLimits(effectiveConfig(state.config));
    const selfOff = !effectiveConfig(state.config)['sessions.record-self'];
    const grantWithdrawn = (g: ReplayGrant) =>
      isOperatorViewer(g.who) ? null : (webAccessWithdrawn(state, g.who) ?? (selfOff ? 'sessions.record-self is off' : null));
    const dropped =
      this.browsers.drop((s) => webAccessWithdrawn(state, s.who)) +
      (this.appOrigins?.revalidate(state) ?? 0) +
      this.grants.drop(grantWithdrawn) +
      this.downloadGrants.drop((g) => (isOperatorViewer(g.who) ? null : webAccessWithdrawn(state, g.who)));
    const closed = this.terminals.revalidate(state) + (this.proxy?.revalidate(state) ?? 0);
    if (dropped + closed > 0) this.options.log.info({ browsers: dropped, sessions: closed }, 'web access withdrawn; sessions closed');
    return closed;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.summary.close();
    if (this.sweeper) clearInterval(this.sweeper);
    this.terminals.stop();
    this.proxy?.stop();
    const app = this.app;
    if (!app) return;
    await Promise.race([app.close(), new Promise((r) => setTimeout(r, 3000).unref())]);
  }

  private async sweep(): Promise<void> {
    const cfg = effectiveConfig((await this.options.ctx.store.snapshot()).config);
    this.browsers.sweep({ idleSeconds: cfg['web.session-idle'], maxSeconds: cfg['web.session-max'] });
    this.grants.sweep();
    this.downloadGrants.sweep();
    this.appOrigins?.sweep({ idleSeconds: cfg['web.session-idle'], maxSeconds: cfg['web.session-max'] });
  }

  /** The app cookie session (for that one app host) of a request to an app on its own origin, or null. */
  private async appCookieSession(req: IncomingMessage, path: AppRequestPath): Promise<BrowserSession | null> {
    if (!this.appOrigins || path.host === undefined) return null;
    return this.appOrigins.authenticate(req, {
      host: path.host,
      login: path.login,
      vm: path.vm,
      port: path.port,
      ...(path.app !== undefined ? { app: path.app } : {}),
    });
  }

  /**
   * Why a request for a path app (`/vm/…`, `/app/…`) is refused before the proxy, or null: path
   * apps off (where the app is now, if it has an origin of its own), or a Service Worker's script
   * (a worker there would control berth's pages).
   */
  private pathAppRefusal(req: IncomingMessage, app: AppRequestPath, cfg: ConfigValues): Page | null {
    if (!cfg['web.path-apps']) {
      this.options.metrics.refusals.inc({ reason: 'path-apps-off' });
      let moved: string | null = null;
      try {
        moved = cfg['web.apps-domain'] ? appAddress(cfg, app.login, app.vm, app.port) : null;
      } catch {
        moved = null;
      }
      return pathAppsOffPage(moved);
    }
    if (fetchesServiceWorker(req)) {
      this.options.metrics.refusals.inc({ reason: 'service-worker' });
      this.summary.note(this.source(req), 'service-worker', 'web app refused: a Service Worker script on berth’s origin');
      return messagePage(403, "A web app on berth's own address may not install a Service Worker.");
    }
    return null;
  }

  /**
   * The browser session a request's cookie names, or null. A browser may send the cookie's name
   * more than once (one set for a parent domain or a narrower path beside berth's own): sessions of
   * two different users in one request name nobody.
   */
  private async authenticate(req: IncomingMessage): Promise<BrowserSession | null> {
    const tokens = readCookies(req.headers.cookie, this.cookie).slice(0, 8);
    if (tokens.length === 0) return null;
    const cfg = effectiveConfig((await this.options.ctx.store.snapshot()).config);
    const limits = { idleSeconds: cfg['web.session-idle'], maxSeconds: cfg['web.session-max'] };
    const found = tokens.map((t) => this.browsers.find(t, limits)).filter((b): b is BrowserSession => b !== null);
    return found.every((b) => b.who.userId === found[0]?.who.userId) ? (found[0] ?? null) : null;
  }

  /** The client's address; behind a reverse proxy on this host, the one it names last. */
  private source(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? 'unknown';
    const forwarded = req.headers['x-forwarded-for'];
    if (forwarded && isLoopback(peer)) {
      const last = String(forwarded).split(',').pop()?.trim() ?? '';
      if (ipaddr.isValid(last)) return last;
    }
    return peer;
  }

  private cookieHeader(token: string, maxSeconds: number): string {
    return `${this.cookie}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxSeconds}${this.secure ? '; Secure' : ''}`;
  }

  /**
   * A spent replay link: re-checked now (the recording still there, and for a user still theirs,
   * with sessions.record-self on), it becomes a grant for that one recording, its cookie sent only
   * to that recording's paths. No browser session: the browser is signed in as nobody.
   */
  private async openReplay(ticket: WebTicket, id: string, source: string): Promise<{ status: number; body: WebAnswer; cookie?: string }> {
    const { log, metrics } = this.options;
    try {
      await checkReplayViewer(this.options.ctx, ticket.who, id);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      metrics.tickets.inc({ result: 'refused' });
      this.summary.note(source, 'replay', 'replay link refused at its opening', { user: ticket.who.login, code: err.code });
      return { status: 409, body: { code: err.code, message: err.message } };
    }
    const { token, grant } = this.grants.create(ticket.who, id);
    metrics.tickets.inc({ result: 'spent' });
    log.info({ viewer: ticket.who.login, recording: id, grant: grant.tag, source }, 'replay link opened');
    const path = replayPath(id);
    const maxAge = Math.floor(this.grants.ttlMs / 1000);
    const cookie = `${this.replayCookie}=${token}; Path=${path}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.secure ? '; Secure' : ''}`;
    return { status: 200, body: { location: path }, cookie };
  }

  /**
   * A spent download link: re-checked now (the snapshot still there, and for a user still theirs,
   * with their plan's backupSelf), it becomes a grant for that one download, its cookie sent only
   * to its path. No browser session.
   */
  private async openDownload(
    ticket: WebTicket,
    home: string,
    snapshot: string,
    source: string,
  ): Promise<{ status: number; body: WebAnswer; cookie?: string }> {
    const { log, metrics } = this.options;
    try {
      await checkBackupViewer(this.options.ctx, ticket.who, home, snapshot);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      metrics.tickets.inc({ result: 'refused' });
      this.summary.note(source, 'download', 'download link refused at its opening', { user: ticket.who.login, code: err.code });
      return { status: 409, body: { code: err.code, message: err.message } };
    }
    const { token, grant } = this.downloadGrants.create(ticket.who, `${home}/${snapshot}`);
    metrics.tickets.inc({ result: 'spent' });
    log.info({ viewer: ticket.who.login, home, snapshot, grant: grant.tag, source }, 'download link opened');
    const path = backupDownloadPath(home, snapshot);
    const maxAge = Math.floor(this.downloadGrants.ttlMs / 1000);
    const cookie = `${this.downloadCookie}=${token}; Path=${path}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.secure ? '; Secure' : ''}`;
    return { status: 200, body: { location: path, download: true }, cookie };
  }

  /**
   * `/backups/HOME/SNAPSHOT.tar.gz` with its grant: the grant spent (a download is given once),
   * the viewer re-checked, and the snapshot streamed through gzip into the response at the
   * browser's pace; the browser going away stops restic's container.
   */
  private async download(req: FastifyRequest<{ Params: { home: string; file: string } }>, reply: FastifyReply): Promise<unknown> {
    const { ctx, log, metrics } = this.options;
    const source = this.source(req.raw);
    const wanted = parseBackupDownload(req.params.home, req.params.file);
    if (!wanted) {
      metrics.refusals.inc({ reason: 'download-path' });
      return pageReply(reply, notFoundPage());
    }
    const grant = this.downloadGrants.find(readCookies(req.headers.cookie, this.downloadCookie), `${wanted.home}/${wanted.snapshot}`);
    if (!grant) {
      metrics.refusals.inc({ reason: 'no-grant' });
      return pageReply(reply, messagePage(401, 'This download link was already used or has expired: ask berth for a new one.'));
    }
    // Once: the grant ends as the download starts.
    this.downloadGrants.drop((g) => (g === grant ? 'used' : null));
    const viewer = grant.who.userId;
    const mine = this.streaming.get(viewer) ?? 0;
    const all = [...this.streaming.values()].reduce((a, b) => a + b, 0);
    if (mine >= DOWNLOADS_PER_VIEWER || all >= MAX_DOWNLOADS) {
      metrics.refusals.inc({ reason: 'downloads-busy' });
      return pageReply(
        reply,
        messagePage(429, 'Too many snapshot downloads are running now: wait for one to end, then ask for a new link.'),
      );
    }
    let found: Awaited<ReturnType<typeof checkBackupViewer>>;
    try {
      found = await checkBackupViewer(ctx, grant.who, wanted.home, wanted.snapshot);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      metrics.refusals.inc({ reason: 'download-withdrawn' });
      this.summary.note(source, 'download-withdrawn', 'download refused: no longer allowed', { user: grant.who.login, code: err.code });
      return pageReply(reply, messagePage(err.code === 'SNAPSHOT_NOT_FOUND' ? 404 : 403, err.message));
    }
    const file = `${found.home.login}-${found.home.vm}-${found.snapshot.time.slice(0, 10)}-${found.snapshot.id}.tar.gz`;
    const res = reply.hijack().raw;
    res.writeHead(200, {
      ...securityHeaders(),
      'content-type': 'application/gzip',
      'content-disposition': `attachment; filename="${file}"`,
      'cache-control': 'no-store',
    });
    const stop = new AbortController();
    const gone = () => {
      if (!res.writableFinished) stop.abort(new Error('The browser went away.'));
    };
    res.on('close', gone);
    this.streaming.set(viewer, mine + 1);
    const started = Date.now();
    try {
      await gzippedSnapshot(ctx, found.home, found.snapshot, res, stop.signal);
      log.info(
        { viewer: grant.who.login, home: found.home.id, snapshot: found.snapshot.id, seconds: (Date.now() - started) / 1000, source },
        'snapshot downloaded',
      );
    } catch (err) {
      res.destroy();
      log.warn(
        { viewer: grant.who.login, home: found.home.id, snapshot: found.snapshot.id, err: String(err), stopped: stop.signal.aborted },
        'snapshot download ended early',
      );
    } finally {
      res.off('close', gone);
      const left = (this.streaming.get(viewer) ?? 1) - 1;
      if (left > 0) this.streaming.set(viewer, left);
      else this.streaming.delete(viewer);
    }
    return reply;
  }

  /**
   * The replay grant a request's cookies hold for recording `id`, re-checked now (a user's access
   * and sessions.record-self may have changed since), or why not: a page to answer with.
   */
  private async replayGrant(req: IncomingMessage, id: string): Promise<{ grant: ReplayGrant; view: RecordingView } | { refusal: Page }> {
    const { ctx, metrics } = this.options;
    try {
      checkRecordingId(id);
    } catch {
      metrics.refusals.inc({ reason: 'replay-id' });
      return { refusal: notFoundPage() };
    }
    const grant = this.grants.find(readCookies(req.headers.cookie, this.replayCookie), id);
    if (!grant) {
      metrics.refusals.inc({ reason: 'no-grant' });
      return { refusal: loginPage() };
    }
    try {
      return { grant, view: await checkReplayViewer(ctx, grant.who, id) };
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      metrics.refusals.inc({ reason: 'replay-withdrawn' });
      this.summary.note(this.source(req), 'replay-withdrawn', 'replay refused: no longer allowed', {
        user: grant.who.login,
        code: err.code,
      });
      return { refusal: messagePage(err.code === 'RECORDING_NOT_FOUND' ? 404 : 403, err.message) };
    }
  }

  private routes(app: FastifyInstance, assets: Map<string, { type: string; body: Buffer }>): void {
    const { ctx, log, metrics, tickets } = this.options;
    app.setNotFoundHandler((_req, reply) => pageReply(reply, notFoundPage()));
    app.setErrorHandler((err: { statusCode?: number }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) log.warn({ err: String(err) }, 'web request failed');
      return pageReply(
        reply,
        messagePage(status, status === 500 ? 'Something went wrong; the operator can see why in the daemon log.' : 'Bad request.'),
      );
    });

    app.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) => {
      const asset = assets.get(req.params.name);
      if (!asset) return pageReply(reply, notFoundPage());
      return reply.headers({ ...securityHeaders(), 'content-type': asset.type, 'cache-control': 'no-cache' }).send(asset.body);
    });
    app.get('/', async (_req, reply) => pageReply(reply, loginPage()));
    app.get('/favicon.ico', async (_req, reply) => reply.code(204).headers(securityHeaders()).send());
    app.get(LANDING_PATH, async (_req, reply) => pageReply(reply, landingPage()));

    // The landing page posts the ticket from its fragment: spent, it becomes a session cookie.
    app.post<{ Body: { ticket?: unknown; switch?: unknown } }>(LANDING_PATH, async (req, reply) => {
      const json = (status: number, body: WebAnswer) => reply.code(status).headers(securityHeaders()).send(body);
      const source = this.source(req.raw);
      if (req.headers.origin !== this.origin) {
        metrics.refusals.inc({ reason: 'origin' });
        this.summary.note(source, 'origin', 'web link post refused: wrong Origin');
        return json(403, { code: 'WEB_ORIGIN', message: `Open berth's links at ${this.origin}.` });
      }
      const within = await this.spends.consume(source).then(
        () => true,
        () => false,
      );
      if (!within) {
        metrics.refusals.inc({ reason: 'ticket-rate' });
        this.summary.note(source, 'ticket-rate', 'web link posts refused: too many from this address');
        return json(429, { code: 'WEB_SLOW_DOWN', message: 'Too many links opened from your address; wait a minute.' });
      }
      const given = req.body?.ticket;
      // A browser signed in as someone else is asked first; the ticket is not spent before it says yes.
      const current = await this.authenticate(req.raw);
      const peeked = typeof given === 'string' ? tickets.peek(given) : null;
      // A replay link signs the browser in as nobody: nothing to switch from.
      if (
        peeked &&
        peeked.target.kind !== 'recording' &&
        peeked.target.kind !== 'backup' &&
        current &&
        current.who.userId !== peeked.who.userId &&
        req.body?.switch !== true
      ) {
        return json(409, {
          code: 'WEB_SWITCH_USER',
          message: `This browser is signed in as ${current.who.login}; continue as ${peeked.who.login}?`,
          current: current.who.login,
          next: peeked.who.login,
        });
      }
      const ticket = typeof given === 'string' ? tickets.spend(given) : null;
      if (ticket?.target.kind === 'recording' || ticket?.target.kind === 'backup') {
        const opened =
          ticket.target.kind === 'recording'
            ? await this.openReplay(ticket, ticket.target.id, source)
            : await this.openDownload(ticket, ticket.target.home, ticket.target.snapshot, source);
        const answer = reply.code(opened.status).headers(securityHeaders());
        if (opened.cookie) answer.header('set-cookie', opened.cookie);
        return answer.send(opened.body);
      }
      const state = await ctx.store.snapshot();
      let landing: { location: string; what: string } | null;
      try {
        landing = ticket ? ticketLanding(state, ticket) : null;
      } catch (err) {
        if (!(err instanceof BerthError)) throw err;
        return json(409, { code: err.code, message: err.message });
      }
      if (!ticket || !landing) {
        metrics.tickets.inc({ result: 'refused' });
        this.summary.note(source, 'ticket', 'web link refused: expired, already used or unknown');
        return json(410, {
          code: 'WEB_LINK_INVALID',
          message: 'This link has expired or was already used: a link works once, within 60 seconds.',
        });
      }
      const { location } = landing;
      const cfg = effectiveConfig(state.config);
      const { token, session } = this.browsers.create(ticket.who);
      metrics.tickets.inc({ result: 'spent' });
      log.info({ user: ticket.who.login, vm: landing.what, browser: session.tag, source, path: location }, 'web link opened');
      return reply
        .code(200)
        .headers(securityHeaders())
        .header('set-cookie', this.cookieHeader(token, cfg['web.session-max']))
        .send({ location });
    });

    app.get<{ Params: { login: string; vm: string } }>('/terminal/:login/:vm', async (req, reply) => {
      const browser = await this.authenticate(req.raw);
      const state = await ctx.store.snapshot();
      if (!browser || !ownWebVm(state, browser.who, req.params.login, req.params.vm)) {
        metrics.refusals.inc({ reason: browser ? 'not-owner' : 'no-session' });
        if (browser)
          this.summary.note(this.source(req.raw), 'not-owner', 'web terminal page refused: not the owner', { user: browser.who.login });
        return pageReply(reply, loginPage());
      }
      const user = state.users.find((u) => u.id === browser.who.userId);
      return pageReply(reply, terminalPage(req.params.login, req.params.vm, recordingNoticeFor(state, user)));
    });

    // A recording's replay page and its cast: only with a replay grant for that recording (its
    // cookie, set by a spent replay link), re-checked at every request.
    app.get<{ Params: { id: string } }>('/replay/:id', async (req, reply) => {
      const found = await this.replayGrant(req.raw, req.params.id);
      if ('refusal' in found) return pageReply(reply, found.refusal);
      return pageReply(reply, replayPage(found.view.id, found.view));
    });
    app.get<{ Params: { id: string } }>('/replay/:id/cast', async (req, reply) => {
      const found = await this.replayGrant(req.raw, req.params.id);
      if ('refusal' in found) return pageReply(reply, found.refusal);
      const { who } = found.grant;
      let opened: Awaited<ReturnType<typeof recordingStream>>;
      try {
        opened = await recordingStream(ctx.store.home, req.params.id, isOperatorViewer(who) ? undefined : { userId: who.userId });
      } catch (err) {
        if (err instanceof BerthError) return pageReply(reply, notFoundPage());
        throw err;
      }
      log.info(
        {
          viewer: who.login,
          recording: opened.view.id,
          user: opened.view.login,
          vm: opened.view.vm,
          grant: found.grant.tag,
          source: this.source(req.raw),
        },
        'recording replayed',
      );
      opened.stream.on('error', (err) => log.warn({ err: String(err), recording: opened.view.id }, 'reading a recording failed'));
      return reply.headers({ ...securityHeaders(), 'content-type': 'application/x-asciicast' }).send(opened.stream);
    });

    // A snapshot of a home as .tar.gz: only with a download grant for it (its cookie, set by a
    // spent download link), once.
    app.get<{ Params: { home: string; file: string } }>('/backups/:home/:file', (req, reply) => this.download(req, reply));

    // The way into an app's own origin (web.apps-domain): the page needs no cookie (an app host's
    // redirect here is a cross-site navigation, which a SameSite=Strict cookie does not follow);
    // its script's same-origin post does, and gets a ticket bound to that one app host.
    type AppParams = { Params: { login: string; vm: string; port: string } };
    const appOf = async (params: AppParams['Params']) => {
      const state = await ctx.store.snapshot();
      const cfg = effectiveConfig(state.config);
      if (!cfg['web.apps-domain'] || !/^[1-9]\d{0,4}$/.test(params.port) || Number(params.port) > 65535) return null;
      const port = Number(params.port);
      try {
        const host = appHostLabel(params.login, params.vm, port);
        return { state, host, port, origin: appOrigin(this.publicUrl, cfg['web.apps-domain'], params.login, params.vm, port) };
      } catch {
        return null;
      }
    };
    app.get<AppParams & { Querystring: { to?: string } }>('/apps/:login/:vm/:port', async (req, reply) => {
      const found = await appOf(req.params);
      if (!found) return pageReply(reply, notFoundPage());
      return pageReply(reply, appEntryPage(req.params.login, req.params.vm, found.port, found.origin, sameHostPath(req.query.to ?? '/')));
    });
    app.post<AppParams & { Body: { to?: unknown } }>('/apps/:login/:vm/:port', async (req, reply) => {
      const json = (status: number, body: WebAnswer) => reply.code(status).headers(securityHeaders()).send(body);
      const source = this.source(req.raw);
      if (req.headers.origin !== this.origin) {
        metrics.refusals.inc({ reason: 'origin' });
        this.summary.note(source, 'origin', 'web app entry refused: wrong Origin');
        return json(403, { code: 'WEB_ORIGIN', message: `Open berth's links at ${this.origin}.` });
      }
      const found = await appOf(req.params);
      if (!found) return json(404, { code: 'WEB_NOT_FOUND', message: 'There is no web app at this address.' });
      const browser = await this.authenticate(req.raw);
      const vm = browser ? ownWebVm(found.state, browser.who, req.params.login, req.params.vm) : null;
      if (!browser || !vm || !this.appOrigins) {
        metrics.refusals.inc({ reason: browser ? 'not-owner' : 'no-session' });
        if (browser) this.summary.note(source, 'not-owner', 'web app entry refused: not the owner', { user: browser.who.login });
        return json(401, {
          code: 'WEB_NOT_OWNER',
          message: "This browser is not signed in as this app's owner. Open the app with a new link from berth.",
        });
      }
      const location = this.appOrigins.enterUrl(
        browser.who,
        { host: found.host, login: vm.user, vm: vm.name, port: found.port },
        found.origin,
        req.body?.to,
      );
      return json(200, { location });
    });

    userAppEntryRoutes(app, {
      ctx,
      metrics,
      publicUrl: () => this.publicUrl,
      origin: () => this.origin,
      authenticate: (req) => this.authenticate(req),
      appOrigins: () => this.appOrigins,
      source: (req) => this.source(req),
      note: (source, reason, message, extra) => this.summary.note(source, reason, message, extra),
    });

    // The terminal's WebSocket: the upgrade is refused unless its Origin is the public URL's, the
    // cookie is valid and its user (still allowed) owns the VM.
    const checkUpgrade = async (req: FastifyRequest<{ Params: { login: string; vm: string } }>, reply: FastifyReply) => {
      const refuse = (status: number, reason: string) => {
        metrics.refusals.inc({ reason });
        this.summary.note(this.source(req.raw), reason, 'web terminal upgrade refused');
        return reply.code(status).send();
      };
      if (req.headers.origin !== this.origin) return refuse(403, 'origin');
      const browser = await this.authenticate(req.raw);
      if (!browser) return refuse(401, 'no-session');
      if (!ownWebVm(await ctx.store.snapshot(), browser.who, req.params.login, req.params.vm)) return refuse(401, 'not-owner');
      this.upgraded.set(req.raw, browser);
    };
    app.get<{ Params: { login: string; vm: string }; Querystring: { attach?: string; cols?: string; rows?: string } }>(
      '/terminal/:login/:vm/ws',
      { websocket: true, preValidation: checkUpgrade },
      (socket, req) => {
        const browser = this.upgraded.get(req.raw);
        if (!browser) {
          socket.terminate();
          return;
        }
        const attach = typeof req.query.attach === 'string' && req.query.attach.length <= 64 ? req.query.attach : undefined;
        void this.terminals
          .open(
            socket,
            { who: browser.who, browserTag: browser.tag, source: this.source(req.raw), touch: () => this.browsers.touch(browser) },
            req.params.vm,
            { ...(attach ? { attach } : {}), cols: Number(req.query.cols), rows: Number(req.query.rows) },
          )
          .catch((err) => {
            log.error({ err: String(err) }, 'web terminal failed');
            socket.terminate();
          });
      },
    );
  }
}
