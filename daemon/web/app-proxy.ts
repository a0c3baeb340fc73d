import { type ClientRequest, type IncomingMessage, type RequestOptions, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { gatewayActor, vmHelperOf } from '../../src/services/access/ssh-access.js';
import { appIsPublic, appOwnerIdentity, dialApp, userAppGone, userAppRoute } from '../../src/services/access/user-app-web.js';
import { dialVm, type VmConnection, type VmRoute, vmRoute } from '../../src/services/access/vm-dial.js';
import { ownWebApp, ownWebVm, vmAppAddress, webAccessWithdrawn } from '../../src/services/access/web-access.js';
import type { WebIdentity } from '../../src/services/access/web-links.js';
import type { Berth } from '../../src/services/core/context.js';
import type { App, State, Vm } from '../../src/state/schema.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import type { AppRequestPath } from '../../src/values/web-paths.js';
import type { WebMetrics } from '../metrics.js';
import { newSession, type SessionRegistry } from '../sessions.js';
import {
  checkAnswer,
  flatHeaders,
  HOP,
  isToken,
  MAX_ANSWER_HEAD_BYTES,
  MAX_ANSWER_HEADERS,
  MAX_INFORMATIONAL,
  rawHead,
  tokenList,
} from './app-answer.js';
import { AppRequests } from './app-requests.js';
import type { BrowserSession } from './browser-sessions.js';
import { loginPage, messagePage, type Page } from './pages.js';
import { webAudit } from './web-audit.js';

export interface ProxyDeps {
  ctx: Berth;
  log: pino.Logger;
  metrics: WebMetrics;
  registry: SessionRegistry;
  /** berth's cookie and the app cookie: neither reaches an app, nor may an app set either. */
  cookieNames: readonly string[];
  publicOrigin: string;
  /** The browser session that may reach this app (berth's cookie on its origin, the app cookie on an app host), or null. */
  authenticate(req: IncomingMessage, path: AppRequestPath): Promise<BrowserSession | null>;
  /** Whether a header of the app's answer is dropped (see appHeaderDropped in app-origin.ts). */
  dropsHeader(path: AppRequestPath, name: string, value: string): boolean;
  /** The client's address (the one a local reverse proxy names, when it is one). */
  source(req: IncomingMessage): string;
}

const FORWARDED = /^x-forwarded-/;
/** How long to wait for a VM's app to accept a connection, and for a quiet one to say something. */
const CONNECT_MS = 10_000;
const IDLE_MS = 5 * 60_000;
/** A WebSocket to an app with no traffic either way this long is closed. */
const WS_IDLE_MS = 15 * 60_000;
/** The largest body of an app's refusal of an upgrade (passed on whole, with its length). */
const MAX_REFUSAL_BODY = 64 * 1024;

/** `port 8000 of alice/main` → `Port 8000 of alice/main`. */
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** What a request goes to, in messages: `port 8000 of alice/main`, or `port 8000 of the app alice/site`. */
const whereOf = (path: AppRequestPath) =>
  path.app !== undefined ? `port ${path.port} of the app ${path.login}/${path.app}` : `port ${path.port} of ${path.login}/${path.vm}`;

/**
 * Who a request to an app is for: the browser's session, or for a public app's visitor without
 * one, its owner's identity (whose limits the visitors share) with `anonymous` set.
 */
interface Caller {
  who: WebIdentity;
  tag: string;
  anonymous: boolean;
}

/** Where an app request goes, once checked: the VM (null for a user's app) and the route there. */
interface Target {
  browser: Caller;
  vm: Vm | null;
  /** A user's app on another Swarm node (reached through a relay in its container). */
  app?: App;
  route: VmRoute;
  state: State;
  /** Why a live connection to it ends when the state changes, or null. */
  gone(state: State): string | null;
}

/** The Cookie header without berth's own cookies (null when nothing is left). */
export function stripCookie(header: string | undefined, names: string | readonly string[]): string | null {
  if (!header) return null;
  const drop = typeof names === 'string' ? [names] : names;
  const kept = header
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && !drop.includes(c.slice(0, c.indexOf('=') < 0 ? c.length : c.indexOf('=')).trim()));
  return kept.length ? kept.join('; ') : null;
}

/** The path the app is sent: all of it, or (`/app/…`) what follows the prefix. */
function upstreamPath(url: string, path: AppRequestPath): string {
  if (!path.strip) return url;
  const rest = url.slice(path.prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * The user's web apps, on their own origin (app-origin.ts) or at `/vm/LOGIN/VM/PORT/…`: HTTP and
 * WebSockets passed to that port of that VM's address on the berth network, as the engine reports
 * it for the VM's own container (never an address from the request), for its owner's browser
 * only. The path is passed on whole (a path app lives under its prefix, told in
 * X-Forwarded-Prefix); berth's cookies never reach the app, and an app cannot set them. Nothing
 * of an app's answer is passed on before it is checked (app-answer.ts).
 */
export class AppProxy {
  /** Each user's requests waiting on their apps (web.max-app-requests). */
  private readonly requests = new AppRequests();
  private readonly live = new Map<string, { gone: (state: State) => string | null; kill: (reason: string) => void }>();

  constructor(private readonly deps: ProxyDeps) {}

  private async target(req: IncomingMessage, path: AppRequestPath): Promise<Target | string> {
    if (path.app !== undefined) return this.userAppTarget(req, path, path.app);
    const session = await this.deps.authenticate(req, path);
    if (!session) return 'no-session';
    const browser = { who: session.who, tag: session.tag, anonymous: false };
    const state = await this.deps.ctx.store.snapshot();
    const vm = ownWebVm(state, browser.who, path.login, path.vm);
    if (!vm) return 'not-owner';
    const gone = (now: State) =>
      webAccessWithdrawn(now, browser.who) ??
      (now.vms.some((v) => v.user === path.login && v.name === path.vm) ? null : 'the VM was removed');
    const route = await vmRoute(this.deps.ctx, state, vm).catch(() => null);
    if (!route) return 'vm-not-running';
    if (route.via === 'exec') return { browser, vm, route, state, gone };
    const address = await vmAppAddress(this.deps.ctx, state, vm).catch(() => null);
    if (!address) return 'vm-not-running';
    return { browser, vm, route: { via: 'address', address }, state, gone };
  }

  /**
   * A user's deployed app (on its own origin only): its owner's app cookie, or anyone where the
   * owner's plan allows public apps; the app's container's address on berth's network, as the
   * engine holding it reports it.
   */
  private async userAppTarget(req: IncomingMessage, path: AppRequestPath, name: string): Promise<Target | string> {
    if (path.host === undefined) return 'not-owner';
    const session = await this.deps.authenticate(req, path);
    const state = await this.deps.ctx.store.snapshot();
    const app = (state.apps ?? []).find((a) => a.user === path.login && a.name === name);
    if (!app || app.port !== path.port) return session ? 'not-owner' : 'no-session';
    let browser: Caller;
    if (session && ownWebApp(state, session.who, path.login, name)) browser = { who: session.who, tag: session.tag, anonymous: false };
    else {
      const owner = appIsPublic(state, app) ? appOwnerIdentity(state, app) : null;
      if (!owner) return session ? 'not-owner' : 'no-session';
      browser = { who: owner, tag: 'public', anonymous: true };
    }
    const gone = (now: State) => {
      const left = webAccessWithdrawn(now, browser.who) ?? userAppGone(now, path.login, name, app.id);
      if (left || !browser.anonymous) return left;
      const still = (now.apps ?? []).find((a) => a.user === path.login && a.name === name);
      return still && appIsPublic(now, still) ? null : 'the app is no longer public';
    };
    const route = await userAppRoute(this.deps.ctx, state, app).catch(() => null);
    if (!route) return 'app-not-running';
    if (route.via === 'other-node') return { browser, vm: null, app, route: { via: 'exec' }, state, gone };
    return { browser, vm: null, route, state, gone };
  }

  /** A connection to the app's port in a VM on another Swarm node: through an exec there (vm-dial). */
  private async dial(target: Target, port: number): Promise<VmConnection> {
    // A user's app on another Swarm node: a relay in its container.
    if (target.app) return dialApp(this.deps.ctx, target.app, port);
    if (!target.vm) throw new Error('no VM to dial through');
    const helper = await vmHelperOf(this.deps.ctx, target.vm);
    return dialVm(this.deps.ctx, target.vm, target.route, port, helper, gatewayActor(target.browser.who));
  }

  /**
   * The headers passed to the app: hop-by-hop ones and berth's cookie out, the X-Forwarded-* set.
   * The framing is berth's: a body the browser sent chunked goes on chunked (Node writes a GET's
   * body unframed otherwise, and the app would read it as a second request); an upgrade carries
   * no body and says only the protocol asked for.
   */
  private headers(req: IncomingMessage, path: AppRequestPath, upgrade: boolean): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const raw = req.rawHeaders;
    const connection = tokenList(req.headers.connection);
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as string;
      const lower = name.toLowerCase();
      if (lower === 'cookie' || FORWARDED.test(lower) || lower === 'forwarded') continue;
      if (HOP.has(lower) || connection.includes(lower)) continue;
      if (upgrade && lower === 'content-length') continue;
      out.push([name, raw[i + 1] as string]);
    }
    const chunked = req.headers['transfer-encoding'];
    if (upgrade) out.push(['Connection', 'Upgrade'], ['Upgrade', String(req.headers.upgrade)]);
    else if (chunked !== undefined) out.push(['Transfer-Encoding', chunked]);
    const cookie = stripCookie(req.headers.cookie, this.deps.cookieNames);
    if (cookie) out.push(['Cookie', cookie]);
    out.push(
      ['X-Forwarded-For', this.deps.source(req)],
      ['X-Forwarded-Proto', new URL(this.deps.publicOrigin).protocol.replace(':', '')],
      ['X-Forwarded-Host', req.headers.host ?? new URL(this.deps.publicOrigin).host],
    );
    if (path.prefix) out.push(['X-Forwarded-Prefix', path.prefix]);
    return out;
  }

  private refused(reason: string, path: AppRequestPath): Page {
    this.deps.metrics.refusals.inc({ reason });
    if (reason === 'vm-not-running') {
      return messagePage(502, `The VM ${path.login}/${path.vm} is not running. Start it (the bot's /start_vm) and reload.`);
    }
    if (reason === 'app-not-running') {
      return messagePage(
        502,
        `The app ${path.login}/${path.app ?? ''} is not running. Start it (berth app start, or /app in chat), wait for it to listen on its port, and reload.`,
      );
    }
    if (reason === 'app-other-node') {
      return messagePage(
        502,
        `The app ${path.login}/${path.app ?? ''} runs on another Swarm node, which berth's web server cannot reach yet. Ask the operator.`,
      );
    }
    return loginPage();
  }

  /**
   * Where the request to the app goes: the VM's address (each request its own connection, no
   * pool: a socket never serves two requests, let alone two users), or through an exec on the
   * VM's node (vm-dial).
   */
  private upstreamVia(target: Target, port: number): RequestOptions {
    const { route } = target;
    if (route.via === 'address') return { host: route.address, port, agent: false };
    return {
      port,
      // No agent: a request's own connection is made by createConnection (an agent would dial itself).
      createConnection: ((_options: unknown, made: (err: Error | null, socket: Duplex) => void) => {
        this.dial(target, port).then(
          (conn) => made(null, conn),
          (err: Error) => made(err, undefined as unknown as Duplex),
        );
        return undefined;
      }) as unknown as RequestOptions['createConnection'],
    };
  }

  /**
   * A request to the app: its answer is checked (app-answer.ts) before anything of it is passed
   * on, must start within web.app-timeout of the request being sent, and may only end this
   * request (a 502 for it), never the daemon or anyone else's.
   */
  async http(req: IncomingMessage, res: ServerResponse, path: AppRequestPath): Promise<void> {
    const target = await this.target(req, path).catch(() => 'error');
    if (typeof target === 'string') return send(res, this.refused(target, path));
    const url = req.url ?? '/';
    if (path.strip && (url.length === path.prefix.length || url[path.prefix.length] === '?')) {
      // An app at its root has relative links: its page must be at PREFIX/.
      res.writeHead(302, { location: `${path.prefix}/${url.slice(path.prefix.length)}`, 'content-length': 0 });
      res.end();
      return;
    }
    const cfg = effectiveConfig(target.state.config);
    const maxBody = cfg['web.max-body'];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      this.deps.metrics.refusals.inc({ reason: 'body-too-large' });
      return send(res, messagePage(413, `The request body is larger than ${maxBody} bytes (web.max-body).`), true);
    }
    // The browser may have left while its access was checked: its 'close' has fired already, so a
    // slot taken now would never be given back (and the user's apps would answer 429 for good).
    if (res.closed || res.destroyed || req.socket.destroyed) return;
    const login = target.browser.who.login;
    const maxRequests = cfg['web.max-app-requests'];
    // A public app's visitors share one count of their own (`:` is in no login), apart from its owner's.
    const release = this.requests.take(target.browser.anonymous ? `${login}:public` : login, maxRequests);
    if (!release) {
      this.deps.metrics.refusals.inc({ reason: 'app-requests' });
      this.deps.log.debug({ user: login }, 'web app request refused: too many open');
      return send(
        res,
        messagePage(
          429,
          target.browser.anonymous
            ? `This app already has ${maxRequests} requests waiting (web.max-app-requests). Try again in a moment.`
            : `You already have ${maxRequests} requests waiting on your apps (web.max-app-requests). Wait for them to finish, or stop the app that does not answer, and reload.`,
        ),
        true,
      );
    }
    res.once('close', release);
    const where = whereOf(path);
    const upstream = request({
      ...this.upstreamVia(target, path.port),
      method: req.method,
      path: upstreamPath(url, path),
      headers: this.headers(req, path, false) as unknown as Record<string, string>,
      timeout: IDLE_MS,
      maxHeaderSize: MAX_ANSWER_HEAD_BYTES,
    });
    // One more than allowed, so that checkAnswer sees there were too many (Node drops the rest silently).
    upstream.maxHeadersCount = MAX_ANSWER_HEADERS + 1;
    /** waiting: nothing of the app's answer yet; answering: its head passed on, its body flowing; over. */
    let phase: 'waiting' | 'answering' | 'over' = 'waiting';
    let headTimer: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_MS);
    const clearTimers = () => {
      clearTimeout(connectTimer);
      clearTimeout(headTimer);
    };
    /** This request's answer is a 502 (or, if the app's answer had begun, its connection is cut). */
    const fail = (reason: string, text: string) => {
      if (phase === 'over') return;
      const was = phase;
      phase = 'over';
      clearTimers();
      upstream.destroy();
      if (was === 'answering' || res.headersSent) {
        res.destroy();
        return;
      }
      this.deps.metrics.refusals.inc({ reason });
      this.deps.log.debug({ user: login, port: path.port, reason }, 'web app answer refused');
      send(res, messagePage(502, text), true);
    };
    upstream.once('socket', (s: Socket) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once('connect', () => clearTimeout(connectTimer));
    });
    // The app has web.app-timeout from the end of the request to start its answer (a big upload
    // is the client's time, not the app's).
    upstream.once('finish', () => {
      if (phase !== 'waiting') return;
      headTimer = setTimeout(
        () => fail('app-slow', `${cap(where)} did not start its answer within ${cfg['web.app-timeout']} s (web.app-timeout).`),
        cfg['web.app-timeout'] * 1000,
      );
    });
    // The body's idle timeout (and the head's, should the socket go quiet before web.app-timeout).
    upstream.on('timeout', () => upstream.destroy(new Error('idle timeout')));
    let informational = 0;
    upstream.on('information', () => {
      if (++informational > MAX_INFORMATIONAL)
        fail('app-bad-answer', `${cap(where)} sent more than ${MAX_INFORMATIONAL} interim (1xx) answers.`);
    });
    // A 101 to a request that asked for no upgrade: Node hands over the socket; it is closed.
    upstream.on('upgrade', (_answer: IncomingMessage, socket: Duplex) => {
      socket.destroy();
      fail('app-bad-answer', `${cap(where)} answered 101 to a request that asked for no upgrade.`);
    });
    upstream.on('response', (answer: IncomingMessage) => {
      try {
        clearTimers();
        answer.on('error', () => fail('app-closed', ''));
        if (phase !== 'waiting') {
          answer.destroy();
          return;
        }
        const checked = checkAnswer(answer.statusCode, answer.rawHeaders, {
          drops: (name, value) => this.deps.dropsHeader(path, name, value),
        });
        if ('bad' in checked) {
          answer.destroy();
          fail('app-bad-answer', `${cap(where)} sent an answer berth does not pass on: ${checked.bad}.`);
          return;
        }
        res.writeHead(checked.status, flatHeaders(checked.headers));
        phase = 'answering';
        answer.once('end', () => {
          phase = 'over';
        });
        answer.pipe(res);
      } catch (err) {
        // Whatever Node itself refuses to write: still this request's failure only.
        answer.destroy();
        fail('app-bad-answer', `${cap(where)} sent an answer berth does not pass on (${String(err).slice(0, 100)}).`);
      }
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (phase !== 'waiting') {
        // After the head: the body was cut (the app closed, or it went quiet for the idle timeout).
        fail('app-closed', '');
        return;
      }
      const code = err.code ?? '';
      if (code === 'ECONNREFUSED') {
        return fail(
          'app-refused',
          `Nothing listens on ${where}. Start your app there, listening on all addresses (0.0.0.0), not only 127.0.0.1.`,
        );
      }
      if (code.startsWith('HPE_')) {
        const why = code === 'HPE_HEADER_OVERFLOW' ? `headers larger than ${MAX_ANSWER_HEAD_BYTES} bytes` : 'a malformed answer';
        return fail('app-bad-answer', `${cap(where)} sent an answer berth does not pass on: ${why}.`);
      }
      if (code === 'ECONNRESET') return fail('app-closed', `${cap(where)} closed the connection without an answer.`);
      fail('app-unreachable', `${cap(where)} did not answer in time.`);
    });
    res.on('close', () => {
      clearTimers();
      upstream.destroy();
    });
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBody) return;
      this.deps.metrics.refusals.inc({ reason: 'body-too-large' });
      upstream.destroy();
      req.unpipe(upstream);
      if (!res.headersSent) send(res, messagePage(413, `The request body is larger than ${maxBody} bytes (web.max-body).`), true);
      else res.destroy();
    });
    req.pipe(upstream);
  }

  /**
   * A WebSocket (or other upgrade) to the app: checked as a request is, asked of the app with
   * Node's own HTTP client, and only joined to the browser's connection when the app answers 101
   * to the protocol asked for. Any other answer goes back as a plain HTTP answer (checked as
   * any is) and the browser's connection is closed: nothing the browser sends after its upgrade
   * request is read, let alone passed on, unless the app agreed.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, path: AppRequestPath): Promise<void> {
    socket.on('error', () => undefined);
    // Nothing more is read from the browser until the app said 101.
    socket.pause();
    const deny = (status: number, reason: string, text?: string) => {
      this.deps.metrics.refusals.inc({ reason });
      writeAndClose(socket, status, text);
    };
    if (req.headers.origin !== (path.origin ?? this.deps.publicOrigin)) return deny(403, 'origin');
    const target = await this.target(req, path).catch(() => 'error');
    if (typeof target === 'string')
      return deny(['vm-not-running', 'app-not-running', 'app-other-node'].includes(target) ? 403 : 401, target);
    const wanted = tokenList(req.headers.upgrade);
    if (wanted.length !== 1 || !isToken(wanted[0] as string)) return deny(400, 'upgrade-invalid', 'Ask for one protocol in Upgrade.');
    // An upgrade request has no body: one declared would reach the app as bytes after the head.
    if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) !== 0) {
      return deny(400, 'upgrade-body', 'An upgrade request carries no body.');
    }
    const login = target.browser.who.login;
    const cfg = effectiveConfig(target.state.config);
    // A public app's anonymous visitors count apart from its owner (`:` is in no login): they can never use up the owner's SSH and terminal sessions.
    const slot = target.browser.anonymous ? `${login}:public` : login;
    if (!this.deps.registry.reserve(slot, cfg['ssh.max-user-sessions'])) return deny(429, 'limit');
    const startedAt = Date.now();
    const session = newSession(
      { identity: { login, fingerprint: `web:${target.browser.tag}` }, source: this.deps.source(req) },
      {
        kind: 'web-app',
        vm: target.vm ? `${login}/${target.vm.name}` : `app:${path.login}/${path.app ?? ''}`,
        command: `port ${path.port}`,
        startedAt,
        kill: (reason) => end('killed', reason),
      },
    );
    const where = whereOf(path);
    let finished = false;
    let joined: Duplex | null = null;
    let upstream: ClientRequest;
    try {
      upstream = request({
        ...this.upstreamVia(target, path.port),
        method: req.method,
        path: upstreamPath(req.url ?? '/', path),
        headers: this.headers(req, path, true) as unknown as Record<string, string>,
        maxHeaderSize: MAX_ANSWER_HEAD_BYTES,
      });
    } catch {
      // A request Node's client will not write (it checks more than its server does): refused, its slot given back.
      this.deps.registry.release(slot);
      return deny(400, 'upgrade-invalid', 'This request cannot be passed on to the app.');
    }
    upstream.maxHeadersCount = MAX_ANSWER_HEADERS + 1;
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_MS);
    const headTimer = setTimeout(
      () => refuse('app-slow', `${cap(where)} did not answer within ${cfg['web.app-timeout']} s.`),
      cfg['web.app-timeout'] * 1000,
    );
    const end = (outcome: string, _reason?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(connectTimer);
      clearTimeout(headTimer);
      this.live.delete(session.id);
      this.deps.registry.remove(session.id);
      this.deps.registry.release(slot);
      upstream.destroy();
      joined?.destroy();
      socket.destroy();
      this.deps.metrics.active.dec();
      webAudit(this.deps, session, outcome, null, startedAt);
    };
    /** No upgrade: a 502 (or the app's own answer) to the browser, then its connection closed. */
    let refusing = false;
    let closeOutcome = 'disconnected';
    const refuse = (reason: string, text: string, answer?: { status: number; headers: Array<[string, string]>; body: Buffer }) => {
      if (finished || refusing || joined) return;
      refusing = true;
      clearTimeout(connectTimer);
      clearTimeout(headTimer);
      upstream.destroy();
      this.deps.metrics.refusals.inc({ reason });
      closeOutcome = reason === 'app-no-upgrade' ? 'app-no-upgrade' : 'app-error';
      if (answer) writeAndClose(socket, answer.status, answer.body, answer.headers);
      else writeAndClose(socket, 502, text);
    };
    this.deps.metrics.active.inc();
    this.deps.registry.add(session);
    this.live.set(session.id, { gone: target.gone, kill: (reason) => end('killed', reason) });
    socket.once('close', () => end(closeOutcome));
    // The browser may have left while its access was checked.
    if ((socket as Socket).destroyed) end('disconnected');
    upstream.once('socket', (s: Socket) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once('connect', () => clearTimeout(connectTimer));
    });
    let informational = 0;
    upstream.on('information', () => {
      if (++informational > MAX_INFORMATIONAL)
        refuse('app-bad-answer', `${cap(where)} sent more than ${MAX_INFORMATIONAL} interim (1xx) answers.`);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (code === 'ECONNREFUSED') refuse('app-refused', `Nothing listens on ${where}.`);
      else if (code.startsWith('HPE_')) refuse('app-bad-answer', `${cap(where)} sent an answer berth does not pass on.`);
      else refuse('app-unreachable', `${cap(where)} did not answer.`);
    });
    // Any answer but a 101: passed on as an answer (body up to MAX_REFUSAL_BODY), the connection then closed.
    upstream.on('response', (answer: IncomingMessage) => {
      try {
        clearTimeout(connectTimer);
        clearTimeout(headTimer);
        answer.on('error', () => undefined);
        const checked = checkAnswer(answer.statusCode, answer.rawHeaders, {
          drops: (name, value) => this.deps.dropsHeader(path, name, value),
          upgrade: wanted[0] as string,
        });
        if ('bad' in checked || checked.status === 101) {
          answer.destroy();
          return refuse(
            'app-bad-answer',
            `${cap(where)} sent an answer berth does not pass on: ${'bad' in checked ? checked.bad : 'a 101 without the upgrade agreed'}.`,
          );
        }
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REFUSAL_BODY) {
            answer.destroy();
            return refuse('app-bad-answer', `${cap(where)} refused the upgrade with a body larger than ${MAX_REFUSAL_BODY} bytes.`);
          }
          chunks.push(c);
        });
        const bodyTimer = setTimeout(() => refuse('app-slow', `${cap(where)} did not finish its answer.`), cfg['web.app-timeout'] * 1000);
        answer.once('close', () => clearTimeout(bodyTimer));
        answer.on('end', () => {
          clearTimeout(bodyTimer);
          const headers = checked.headers.filter(([n]) => n.toLowerCase() !== 'content-length');
          refuse('app-no-upgrade', '', { status: checked.status, headers, body: Buffer.concat(chunks) });
        });
      } catch {
        refuse('app-bad-answer', `${cap(where)} sent an answer berth does not pass on.`);
      }
    });
    upstream.on('upgrade', (answer: IncomingMessage, appSocket: Duplex, appHead: Buffer) => {
      try {
        clearTimeout(connectTimer);
        clearTimeout(headTimer);
        appSocket.on('error', () => undefined);
        const checked = checkAnswer(answer.statusCode, answer.rawHeaders, {
          drops: (name, value) => this.deps.dropsHeader(path, name, value),
          upgrade: wanted[0] as string,
        });
        if ('bad' in checked || checked.status !== 101) {
          appSocket.destroy();
          return refuse(
            'app-bad-answer',
            `${cap(where)} sent an upgrade answer berth does not pass on: ${'bad' in checked ? checked.bad : 'not 101'}.`,
          );
        }
        if (finished) {
          appSocket.destroy();
          return;
        }
        joined = appSocket;
        appSocket.once('close', () => end(session.bytesOut > 0 ? 'ok' : 'app-closed'));
        socket.write(rawHead(101, checked.headers), 'latin1');
        if (appHead.length) {
          socket.write(appHead);
          session.bytesOut += appHead.length;
        }
        // What the browser sent after its request (before the 101) goes to the app only now.
        if (head.length) appSocket.write(head);
        appSocket.on('data', (c: Buffer) => {
          session.bytesOut += c.length;
          this.deps.metrics.bytes.inc({ direction: 'out' }, c.length);
        });
        socket.on('data', (c: Buffer) => {
          session.bytesIn += c.length;
          this.deps.metrics.bytes.inc({ direction: 'in' }, c.length);
        });
        for (const s of [appSocket, socket] as Array<Duplex & { setTimeout?: (ms: number, cb: () => void) => void }>) {
          if (typeof s.setTimeout === 'function') s.setTimeout(WS_IDLE_MS, () => end('idle'));
        }
        appSocket.pipe(socket);
        socket.pipe(appSocket);
        socket.resume();
      } catch {
        appSocket.destroy();
        refuse('app-bad-answer', `${cap(where)} sent an upgrade answer berth does not pass on.`);
      }
    });
    upstream.end();
  }

  /** Closes the app WebSockets whose user lost access or whose VM or app is gone (or a public app no longer is); how many. */
  revalidate(state: State): number {
    let n = 0;
    for (const [, c] of [...this.live]) {
      const reason = c.gone(state);
      if (!reason) continue;
      n++;
      c.kill(reason);
    }
    return n;
  }

  stop(): void {
    for (const [, c] of [...this.live]) c.kill('the berth daemon is stopping');
  }
}

/**
 * An answer written by hand on an upgrade's socket (no ServerResponse there): a message page, or
 * the app's checked refusal; then the connection is closed (cut if the browser does not read it).
 */
function writeAndClose(socket: Duplex, status: number, body: string | Buffer = '', headers?: Array<[string, string]>): void {
  const page = headers ? null : messagePage(status, typeof body === 'string' && body ? body : `The upgrade was refused (${status}).`);
  const payload = page ? Buffer.from(page.body) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines: Array<[string, string]> = [
    ...(page ? Object.entries(page.headers) : (headers ?? [])),
    ['Content-Length', String(payload.length)],
    ['Connection', 'close'],
  ];
  try {
    socket.end(Buffer.concat([Buffer.from(rawHead(status, lines), 'latin1'), payload]));
  } catch {
    socket.destroy();
  }
  setTimeout(() => socket.destroy(), 1000).unref();
}

export function send(res: ServerResponse, page: Page, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(page.status, {
    ...page.headers,
    'content-length': Buffer.byteLength(page.body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(page.body);
}
