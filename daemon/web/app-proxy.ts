import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import type pino from 'pino';
import type { Berth } from '../../src/services/context.js';
import { gatewayActor, vmHelperOf } from '../../src/services/ssh-access.js';
import { dialVm, type VmConnection, type VmRoute, vmRoute } from '../../src/services/vm-dial.js';
import { ownWebVm, vmAppAddress, webAccessWithdrawn } from '../../src/services/web-access.js';
import type { WebIdentity } from '../../src/services/web-links.js';
import type { State, Vm } from '../../src/state/schema.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import type { AppRequestPath } from '../../src/values/web-paths.js';
import type { WebMetrics } from '../metrics.js';
import { newSession, type SessionRegistry } from '../sessions.js';
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

/** Headers that belong to one hop, never passed on (RFC 9110, 7.6.1). */
const HOP = new Set([
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
const FORWARDED = /^x-forwarded-/;
/** How long to wait for a VM's app to accept a connection, and for a quiet one to say something. */
const CONNECT_MS = 10_000;
const IDLE_MS = 5 * 60_000;
/** A WebSocket to an app with no traffic either way this long is closed. */
const WS_IDLE_MS = 15 * 60_000;
/** The most an app's answer to an upgrade may hold before its body starts. */
const MAX_HEAD = 64 * 1024;

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
 * X-Forwarded-Prefix); berth's cookies never reach the app, and an app cannot set them.
 */
export class AppProxy {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32, maxTotalSockets: 512, timeout: IDLE_MS });
  private readonly live = new Map<string, { who: WebIdentity; vm: string; kill: (reason: string) => void }>();

  constructor(private readonly deps: ProxyDeps) {}

  private async target(
    req: IncomingMessage,
    path: AppRequestPath,
  ): Promise<{ browser: BrowserSession; vm: Vm; route: VmRoute; state: State } | string> {
    const browser = await this.deps.authenticate(req, path);
    if (!browser) return 'no-session';
    const state = await this.deps.ctx.store.snapshot();
    const vm = ownWebVm(state, browser.who, path.login, path.vm);
    if (!vm) return 'not-owner';
    const route = await vmRoute(this.deps.ctx, state, vm).catch(() => null);
    if (!route) return 'vm-not-running';
    if (route.via === 'exec') return { browser, vm, route, state };
    const address = await vmAppAddress(this.deps.ctx, state, vm).catch(() => null);
    if (!address) return 'vm-not-running';
    return { browser, vm, route: { via: 'address', address }, state };
  }

  /** A connection to the app's port in a VM on another Swarm node: through an exec there (vm-dial). */
  private async dial(target: { vm: Vm; route: VmRoute; browser: BrowserSession }, port: number): Promise<VmConnection> {
    const helper = await vmHelperOf(this.deps.ctx, target.vm);
    return dialVm(this.deps.ctx, target.vm, target.route, port, helper, gatewayActor(target.browser.who));
  }

  /** The headers passed to the app: hop-by-hop ones and berth's cookie out, the X-Forwarded-* set. */
  private headers(req: IncomingMessage, path: AppRequestPath, upgrade: boolean): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const raw = req.rawHeaders;
    const connection = (req.headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.trim());
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as string;
      const lower = name.toLowerCase();
      if (lower === 'cookie' || FORWARDED.test(lower) || lower === 'forwarded') continue;
      if ((HOP.has(lower) || connection.includes(lower)) && !(upgrade && (lower === 'connection' || lower === 'upgrade'))) continue;
      out.push([name, raw[i + 1] as string]);
    }
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
    return loginPage();
  }

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
    const maxBody = effectiveConfig(target.state.config)['web.max-body'];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      this.deps.metrics.refusals.inc({ reason: 'body-too-large' });
      return send(res, messagePage(413, `The request body is larger than ${maxBody} bytes (web.max-body).`), true);
    }
    const { route } = target;
    const upstream = request({
      ...(route.via === 'address'
        ? { host: route.address, agent: this.agent }
        : {
            // No agent: a request's own connection is made by createConnection (an agent would dial itself).
            createConnection: (_options: unknown, made: (err: Error | null, socket: Duplex) => void) => {
              this.dial(target, path.port).then(
                (conn) => made(null, conn),
                (err: Error) => made(err, undefined as unknown as Duplex),
              );
              return undefined;
            },
          }),
      port: path.port,
      method: req.method,
      path: upstreamPath(req.url ?? '/', path),
      headers: this.headers(req, path, false) as unknown as Record<string, string>,
      timeout: IDLE_MS,
    });
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_MS);
    upstream.once('socket', (s: Socket) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once('connect', () => clearTimeout(connectTimer));
    });
    upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
    upstream.on('response', (answer) => {
      clearTimeout(connectTimer);
      const headers: string[] = [];
      const raw = answer.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i] as string;
        const lower = name.toLowerCase();
        if (HOP.has(lower)) continue;
        if (this.deps.dropsHeader(path, name, raw[i + 1] as string)) continue;
        headers.push(name, raw[i + 1] as string);
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const refusedConn = err.code === 'ECONNREFUSED';
      this.deps.metrics.refusals.inc({ reason: refusedConn ? 'app-refused' : 'app-unreachable' });
      send(
        res,
        messagePage(
          502,
          refusedConn
            ? `Nothing listens on port ${path.port} of ${path.login}/${path.vm}. Start your app there, listening on all addresses (0.0.0.0), not only 127.0.0.1.`
            : `Port ${path.port} of ${path.login}/${path.vm} did not answer in time.`,
        ),
      );
    });
    res.on('close', () => upstream.destroy());
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

  /** A WebSocket (or other upgrade) to the app: checked as a request is, then bytes both ways. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, path: AppRequestPath): Promise<void> {
    socket.on('error', () => undefined);
    const deny = (status: number, reason: string) => {
      this.deps.metrics.refusals.inc({ reason });
      socket.end(
        `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status === 429 ? 'Too Many Requests' : 'Unauthorized'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (req.headers.origin !== (path.origin ?? this.deps.publicOrigin)) return deny(403, 'origin');
    const target = await this.target(req, path).catch(() => 'error');
    if (typeof target === 'string') return deny(target === 'vm-not-running' ? 403 : 401, target);
    const login = target.browser.who.login;
    const cfg = effectiveConfig(target.state.config);
    if (!this.deps.registry.reserve(login, cfg['ssh.max-user-sessions'])) return deny(429, 'limit');
    const startedAt = Date.now();
    const session = newSession(
      { identity: { login, fingerprint: `web:${target.browser.tag}` }, source: this.deps.source(req) },
      {
        kind: 'web-app',
        vm: `${login}/${target.vm.name}`,
        command: `port ${path.port}`,
        startedAt,
        kill: (reason) => end('killed', reason),
      },
    );
    let finished = false;
    const route = target.route;
    const upstream: Socket | VmConnection =
      route.via === 'address'
        ? connect({ host: route.address, port: path.port })
        : await this.dial(target, path.port).catch(() => {
            const failed = new PassThrough() as unknown as Socket;
            setImmediate(() => failed.destroy());
            return failed;
          });
    upstream.on('error', () => undefined);
    const connectTimer = setTimeout(() => upstream.destroy(), CONNECT_MS);
    const end = (outcome: string, _reason?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(connectTimer);
      this.live.delete(session.id);
      this.deps.registry.remove(session.id);
      this.deps.registry.release(login);
      upstream.destroy();
      socket.destroy();
      this.deps.metrics.active.dec();
      webAudit(this.deps, session, outcome, null, startedAt);
    };
    this.deps.metrics.active.inc();
    this.deps.registry.add(session);
    this.live.set(session.id, { who: target.browser.who, vm: target.vm.name, kill: (reason) => end('killed', reason) });
    socket.once('close', () => end('disconnected'));
    // The browser may have left while the VM's port was being dialled.
    if ((socket as Socket).destroyed) end('disconnected');
    upstream.once('close', () => end(session.bytesOut > 0 ? 'ok' : 'app-unreachable'));
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      const lines = [
        `${req.method} ${upstreamPath(req.url ?? '/', path)} HTTP/1.1`,
        ...this.headers(req, path, true).map(([n, v]) => `${n}: ${v}`),
      ];
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      // The app's answer, with any Set-Cookie for berth's cookie taken out; then bytes both ways.
      let answer = Buffer.alloc(0);
      const onHead = (chunk: Buffer) => {
        answer = Buffer.concat([answer, chunk]);
        const at = answer.indexOf('\r\n\r\n');
        if (at < 0) {
          if (answer.length > MAX_HEAD) end('app-error');
          return;
        }
        upstream.off('data', onHead);
        const headText = answer
          .subarray(0, at)
          .toString('latin1')
          .split('\r\n')
          .filter((line) => {
            const at = line.indexOf(':');
            return at <= 0 || !this.deps.dropsHeader(path, line.slice(0, at).trim(), line.slice(at + 1).trim());
          })
          .join('\r\n');
        socket.write(`${headText}\r\n\r\n`, 'latin1');
        const rest = answer.subarray(at + 4);
        if (rest.length) socket.write(rest);
        session.bytesOut += rest.length;
        upstream.on('data', (c: Buffer) => {
          session.bytesOut += c.length;
          this.deps.metrics.bytes.inc({ direction: 'out' }, c.length);
        });
        socket.on('data', (c: Buffer) => {
          session.bytesIn += c.length;
          this.deps.metrics.bytes.inc({ direction: 'in' }, c.length);
        });
        upstream.pipe(socket);
        socket.pipe(upstream);
      };
      upstream.on('data', onHead);
    });
    for (const s of [upstream, socket as Socket]) {
      if (typeof s.setTimeout === 'function') s.setTimeout(WS_IDLE_MS, () => end('idle'));
    }
  }

  /** Closes the app WebSockets whose user lost access or whose VM is gone; how many. */
  revalidate(state: State): number {
    let n = 0;
    for (const [, c] of [...this.live]) {
      const reason =
        webAccessWithdrawn(state, c.who) ??
        (state.vms.some((v) => v.user === c.who.login && v.name === c.vm) ? null : 'the VM was removed');
      if (!reason) continue;
      n++;
      c.kill(reason);
    }
    return n;
  }

  stop(): void {
    for (const [, c] of [...this.live]) c.kill('the berth daemon is stopping');
    this.agent.destroy();
  }
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
