import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net';
import type pino from 'pino';
import type { AuthContext, Connection, Server as SshServer, TcpipBindInfo } from 'ssh2';
import { accessWithdrawn, authorizeGatewayKey, type GatewayIdentity, maintenanceBanner } from '../../src/services/access/ssh-access.js';
import type { HostKey } from '../../src/services/access/ssh-host-key.js';
import type { Berth } from '../../src/services/core/context.js';
import { engineDeadlineMs } from '../../src/services/engine/deadline.js';
import type { State } from '../../src/state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../src/values/config-keys.js';
import { listenParts } from '../../src/values/listen-address.js';
import { printable } from '../../src/values/names.js';
import { LogSummary } from '../log-summary.js';
import type { SshMetrics } from '../metrics.js';
import { SessionRegistry, type SessionView } from '../sessions.js';
import { watchDir } from '../state-watch.js';
import { handleSessionChannel } from './channel-bridge.js';
import type { ConnectionScope, Refusal } from './connection-scope.js';
import { handleDirectTcpip } from './forwarding.js';
import { floorPacketSizes } from './packet-floor.js';
import { type PenaltyCause, type PenaltyRules, SourcePenalties } from './penalties.js';
import { AuthRateLimit, ChannelRate, PreAuthSlots, type StartupLimits } from './rate-limit.js';
import { RemoteForwards } from './remote-forward.js';

type Ssh2 = typeof import('ssh2');

export interface GatewayOptions {
  ctx: Berth;
  log: pino.Logger;
  metrics: SshMetrics;
  listen: string;
  hostKey: HostKey;
  /** Summarises refusals and drops in the log (one line per source and reason per interval). */
  summary?: LogSummary;
  /** The longest a session waits on the engine (exit codes, signals); BERTH_SSH_EXIT_DEADLINE_MS. */
  deadlineMs?: number;
  /** The daemon's session registry, shared with the web server (its own when none is given). */
  registry?: SessionRegistry;
}

/** The pre-login limits in force (config keys ssh.max-startups…, ssh.login-grace, ssh.banner-timeout, ssh.penalty-…). */
interface PreAuthLimits extends StartupLimits {
  graceMs: number;
  bannerMs: number;
  penalties: PenaltyRules;
}

function preAuthLimits(cfg: ConfigValues): PreAuthLimits {
  return {
    perSource: cfg['ssh.max-startups-per-source'],
    ...cfg['ssh.max-startups'],
    graceMs: cfg['ssh.login-grace'] * 1000,
    bannerMs: cfg['ssh.banner-timeout'] * 1000,
    penalties: {
      maxMs: cfg['ssh.penalty-max'] * 1000,
      minMs: cfg['ssh.penalty-min'] * 1000,
      amounts: { 'grace-exceeded': cfg['ssh.penalty-grace-exceeded'] * 1000, noauth: cfg['ssh.penalty-noauth'] * 1000 },
    },
  };
}

/** A connection from its TCP accept until it logs in (or goes). */
interface PreAuth {
  /** Frees its pre-login slot (idempotent). */
  release: () => void;
  /** The client sent its identification line (ssh2 made a connection of it). */
  identified: boolean;
  loggedIn: boolean;
  /** It already earned its source a penalty (one per connection). */
  penalised: boolean;
  timers: NodeJS.Timeout[];
}

// SSH_MSG_DISCONNECT and its reason "too many connections" (RFC 4253, 11.1 and 4250, 4.2.2).
const MSG_DISCONNECT = 1;
const DISCONNECT_TOO_MANY_CONNECTIONS = 12;

/** RFC 4254's channel open failure reasons. */
const OPEN_FAILURE: Record<Refusal['reason'], number> = { prohibited: 1, 'connect-failed': 2, 'resource-shortage': 4 };

interface ProtocolInternals {
  _packetRW?: {
    write: { allocStartKEX: number; alloc(n: number, force?: boolean): Buffer; finalize(p: Buffer, force?: boolean): Buffer };
  };
  channelOpenFail?(remote: number, reason: number, description?: string): void;
}

/**
 * Sends SSH_MSG_DISCONNECT with a description, which OpenSSH prints ("Received disconnect …:
 * 12: text"); ssh2's own disconnect() sends none. False when this ssh2 cannot.
 */
function disconnectWith(client: Connection, reason: number, description: string): boolean {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  const rw = proto?._packetRW?.write;
  let sendPacket: ((p: unknown, packet: Buffer, bypass?: boolean) => void) | undefined;
  try {
    sendPacket = (createRequire(import.meta.url)('ssh2/lib/protocol/utils.js') as { sendPacket?: typeof sendPacket }).sendPacket;
  } catch {
    sendPacket = undefined;
  }
  if (!proto || !rw || typeof sendPacket !== 'function') return false;
  const text = Buffer.from(description.slice(0, 400), 'utf8');
  const p = rw.allocStartKEX;
  const packet = rw.alloc(1 + 4 + 4 + text.length + 4, true);
  packet[p] = MSG_DISCONNECT;
  packet.writeUInt32BE(reason, p + 1);
  packet.writeUInt32BE(text.length, p + 5);
  text.copy(packet, p + 9);
  packet.writeUInt32BE(0, p + 9 + text.length);
  sendPacket(proto, rw.finalize(packet, true), true);
  return true;
}

/** Attempts one connection may make before it is cut (each key an agent holds is one). */
const MAX_ATTEMPTS = 6;
const KEEPALIVE_MS = 15_000;
/** How long the auth service's acceptance waits for the pre-login state read (the banner). */
const BANNER_WAIT_MS = 5000;

// AES-GCM first: with ssh2's crypto binding it is the fastest path (chacha20 is kept for
// clients that want nothing else).
const CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
  'chacha20-poly1305@openssh.com',
] as const;

/**
 * The SSH gateway: public-key logins checked against the state at every login, each
 * channel bridged to a `docker exec` in the user's own VM. No VM runs sshd.
 */
export class SshGateway {
  readonly registry: SessionRegistry;
  private readonly limiter = new AuthRateLimit();
  private readonly startups = new PreAuthSlots();
  private readonly penalties = new SourcePenalties();
  private readonly channels = new ChannelRate();
  /** Logged-in connections per user (ssh.max-connections). */
  private readonly perUser = new Map<string, number>();
  private readonly pending = new WeakMap<Socket, PreAuth>();
  private limits: PreAuthLimits | null = null;
  private readonly summary: LogSummary;
  private readonly deadlineMs: number;
  private server: SshServer | null = null;
  private tcp: NetServer | null = null;
  private readonly connections = new Set<Connection>();
  /** Logged-in connections, re-checked against the state whenever it changes. */
  private readonly live = new Map<Connection, { identity: GatewayIdentity; drop: () => void }>();
  private watcher: { close(): void } | null = null;
  address = '';

  constructor(private readonly options: GatewayOptions) {
    this.registry = options.registry ?? new SessionRegistry();
    this.summary = options.summary ?? new LogSummary(options.log);
    this.deadlineMs = options.deadlineMs ?? engineDeadlineMs();
  }

  async start(): Promise<string> {
    const { Server } = createRequire(import.meta.url)('ssh2') as Ssh2;
    const server = new Server(
      {
        hostKeys: [this.options.hostKey.privateKey],
        ident: 'berth',
        keepaliveInterval: KEEPALIVE_MS,
        keepaliveCountMax: 4,
        // No compression: ssh2 closes its zlib stream as soon as the client's side ends, and
        // every later write to a channel still open then throws (outside any handler of ours).
        algorithms: { cipher: [...CIPHERS], compress: ['none'] },
      },
      (client, info) => this.onConnection(client, info.ip ?? 'unknown'),
    );
    server.on('error', (err: Error) => this.options.log.error({ err: String(err) }, 'ssh server error'));
    this.server = server;
    this.limits = preAuthLimits(await this.config());
    // berth accepts the TCP connections itself and hands ssh2 those it lets in: the pre-login
    // slots and deadlines count from the accept, not from the client's first line.
    const tcp = createServer((socket) => this.onAccept(socket));
    tcp.on('error', (err: Error) => this.options.log.error({ err: String(err) }, 'ssh listener error'));
    this.tcp = tcp;
    const { host, port } = listenParts(this.options.listen);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const bound = tcp.address() as AddressInfo;
    this.address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    this.watcher = watchDir(
      this.options.ctx.store.home,
      (file) => file === 'state.json',
      async () => {
        this.limits = preAuthLimits(await this.config());
        if (this.limits.penalties.maxMs <= 0) this.penalties.clear();
        await this.revalidate();
      },
      (err) => this.options.log.warn({ err: String(err) }, 'ssh: re-checking live access failed'),
    );
    return this.address;
  }

  /**
   * Ends the connections whose access was withdrawn since they logged in (user revoked or removed,
   * their key removed, their role changed): every session is told why, then the connection closes.
   */
  async revalidate(): Promise<number> {
    if (this.live.size === 0) return 0;
    const state = await this.options.ctx.store.read();
    let closed = 0;
    for (const [client, { identity, drop }] of [...this.live]) {
      const reason = accessWithdrawn(state, identity);
      if (!reason) continue;
      this.live.delete(client);
      closed++;
      this.options.log.info({ user: identity.login, fingerprint: identity.fingerprint, reason }, 'ssh access withdrawn; connection closed');
      this.options.metrics.authFailures.inc({ reason: 'withdrawn' });
      for (const session of this.registry.list()) {
        if (session.user === identity.login && session.fingerprint === identity.fingerprint) this.registry.get(session.id)?.kill(reason);
      }
      // The sessions' last words go out first.
      setTimeout(drop, 500).unref();
    }
    return closed;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.summary.close();
    for (const s of this.registry.list()) if (!s.kind.startsWith('web-')) this.registry.get(s.id)?.kill('the berth daemon is stopping');
    const tcp = this.tcp;
    if (!tcp) return;
    await new Promise<void>((resolve) => {
      tcp.close(() => resolve());
      for (const c of this.connections) c.end();
      setTimeout(resolve, 3000).unref();
    });
  }

  sessions(): SessionView[] {
    return this.registry.list();
  }

  kill(id: string): boolean {
    const session = this.registry.get(id);
    if (!session) return false;
    session.kill('this session was ended by the operator');
    return true;
  }

  countForVm(ref: string): number {
    return this.registry.countForVm(ref);
  }

  /**
   * The state for pre-login checks: the store's shared, frozen snapshot (validated again only
   * when the file's text changed). Sessions themselves read the state afresh.
   */
  private state(): Promise<State> {
    return this.options.ctx.store.snapshot();
  }

  private async config(): Promise<ConfigValues> {
    return effectiveConfig((await this.state()).config);
  }

  /** A refusal or drop: counted by reason in /metrics, summarised in the log. */
  private dropped(source: string, reason: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.options.metrics.drops.inc({ reason });
    this.summary.note(source, reason, msg, fields);
  }

  /**
   * `source` misbehaved before logging in (a deadline passed, or it broke the protocol): it earns
   * a penalty (ssh.penalty-…), once per connection. Once its penalties add up to ssh.penalty-min,
   * its new connections are refused at accept, before any crypto, until the penalty runs out.
   */
  private penalise(source: string, pre: PreAuth, cause: PenaltyCause): void {
    const limits = this.limits;
    if (pre.penalised || pre.loggedIn || !limits) return;
    pre.penalised = true;
    const { refusedMs, started } = this.penalties.penalise(source, cause, limits.penalties);
    if (started) {
      this.summary.note(source, 'penalty', 'ssh source penalised: its new connections are refused for a while', {
        cause,
        seconds: Math.ceil(refusedMs / 1000),
      });
    }
  }

  /**
   * A TCP connection accepted: a penalised source is refused at once; otherwise it takes a
   * pre-login slot (or is dropped at once: per-source cap, MaxStartups with random early drop for
   * sources already holding slots), and must send its identification line within
   * ssh.banner-timeout and log in within ssh.login-grace, both counted from now.
   */
  private onAccept(socket: Socket): void {
    const source = socket.remoteAddress ?? 'unknown';
    socket.on('error', () => undefined);
    const limits = this.limits;
    const refusedMs = limits ? this.penalties.refusedFor(source) : 0;
    const taken = limits ? this.startups.take(source, limits, refusedMs > 0) : 'startups-full';
    if (typeof taken === 'string' || !limits) {
      if (taken === 'penalty') {
        this.dropped(source, 'penalty', 'ssh source penalised: its new connections are refused for a while', {
          seconds: Math.ceil(refusedMs / 1000),
        });
      } else {
        this.dropped(source, String(taken), 'ssh connection dropped: too many connections not logged in yet');
      }
      socket.destroy();
      return;
    }
    const pre: PreAuth = { release: taken, identified: false, loggedIn: false, penalised: false, timers: [] };
    pre.timers.push(
      setTimeout(() => {
        if (pre.identified || socket.destroyed) return;
        this.dropped(source, 'banner-timeout', 'ssh connection cut: no identification line in time');
        this.penalise(source, pre, 'grace-exceeded');
        socket.destroy();
      }, limits.bannerMs),
      setTimeout(() => {
        if (pre.loggedIn || socket.destroyed) return;
        this.dropped(source, 'login-grace', 'ssh connection cut: not logged in in time');
        this.penalise(source, pre, 'grace-exceeded');
        socket.destroy();
      }, limits.graceMs),
    );
    for (const t of pre.timers) t.unref();
    // Garbage instead of an identification line: ssh2 ends the socket from its own data handler
    // (its errors before the line are not emitted); seen here once every handler had the chunk.
    const sniff = () => {
      if (pre.identified) {
        socket.off('data', sniff);
        return;
      }
      process.nextTick(() => {
        if (!pre.identified && socket.writableEnded) this.penalise(source, pre, 'noauth');
      });
    };
    socket.once('close', () => {
      for (const t of pre.timers) clearTimeout(t);
      pre.release();
    });
    this.pending.set(socket, pre);
    this.server?.injectSocket(socket);
    // Added once ssh2 holds the socket (it pauses it until its own handler is set, so nothing is missed).
    socket.on('data', sniff);
  }

  private onConnection(client: Connection, source: string): void {
    const { ctx, log, metrics } = this.options;
    let preAuth: PreAuth | undefined;
    client.on('error', (err: Error & { level?: string }) => {
      log.debug({ source, err: String(err) }, 'ssh connection error');
      // Before login, anything but the socket's own errors and our deadlines is the client
      // breaking the protocol (garbage, a broken packet, no algorithm in common).
      if (preAuth && err.level !== 'socket' && err.level !== 'client-timeout') this.penalise(source, preAuth, 'noauth');
    });
    // ssh2 writes each packet to the socket on its own; corked for a tick, they leave together.
    const socket = (client as unknown as { _sock?: Socket })._sock;
    /** Ends the connection; a peer that does not close its side is cut off 2 s later. */
    const drop = () => {
      client.end();
      setTimeout(() => socket?.destroy(), 2000).unref();
    };
    const pre = socket ? this.pending.get(socket) : undefined;
    preAuth = pre;
    if (!pre) {
      // Not from our listener: nothing counts it, so it is not served.
      socket?.destroy();
      return;
    }
    pre.identified = true;
    if (!floorPacketSizes(client)) {
      // An ssh2 whose internals moved: serving it could let one channel freeze the daemon.
      log.error({ source }, 'ssh connection refused: this ssh2 cannot bound channel packet sizes');
      socket?.destroy();
      return;
    }
    this.connections.add(client);
    let identity: GatewayIdentity | null = null;
    let config: ConfigValues | null = null;
    let failures = 0;
    let closed = false;
    const closers = new Set<() => void>();
    let idleTimer: NodeJS.Timeout | null = null;
    let lastActivity = Date.now();

    // The banner (why logins are refused during maintenance) goes out with the auth service's
    // acceptance; ssh2 takes one banner per server, so it is set on this connection's protocol,
    // from the state read for this connection (well before the client gets that far).
    const protocol = (client as unknown as { _protocol?: { _banner?: string } })._protocol;
    let corked = false;

    /** Set once this connection counts in its user's ssh.max-connections. */
    let counted: string | null = null;
    client.on('close', () => {
      closed = true;
      pre.release();
      if (counted) this.uncount(counted);
      counted = null;
      this.connections.delete(client);
      this.live.delete(client);
      if (idleTimer) clearInterval(idleTimer);
      const fns = [...closers];
      closers.clear();
      for (const fn of fns) fn();
    });
    const preLogin = (async () => {
      const state = await this.state().catch(() => null);
      if (!state || closed) return;
      if (protocol) protocol._banner = maintenanceBanner(state) ?? undefined;
      const cfg = effectiveConfig(state.config);
      if (await this.limiter.banned(source, cfg['ssh.auth-rate'], cfg['ssh.ban'])) {
        this.dropped(source, 'banned', 'ssh connection from a banned address dropped');
        drop();
      }
    })();
    // The banner must be known before the auth service is accepted (it goes out with the
    // acceptance): a client quicker than the state read waits for it, at most BANNER_WAIT_MS.
    const accept = (protocol as { serviceAccept?: (svc: string) => void } | undefined)?.serviceAccept;
    if (protocol && accept) {
      (protocol as { serviceAccept: (svc: string) => void }).serviceAccept = (svc: string) => {
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<void>((done) => {
          timer = setTimeout(done, BANNER_WAIT_MS);
        });
        void Promise.race([preLogin, waited]).then(() => {
          clearTimeout(timer);
          if (!closed) accept.call(protocol, svc);
        });
      };
    }

    client.on('authentication', (auth) => {
      // `ready` follows accept() at once: who logged in is recorded before that.
      const onSuccess = (who: GatewayIdentity, cfg: ConfigValues): boolean => {
        // A user at ssh.max-connections is told so (the disconnect's text), and not let in.
        const open = this.perUser.get(who.login) ?? 0;
        if (!counted && open >= cfg['ssh.max-connections']) {
          this.dropped(source, 'user-connections', 'ssh login refused: too many connections for this user', { user: who.login });
          const told = disconnectWith(
            client,
            DISCONNECT_TOO_MANY_CONNECTIONS,
            `berth: ${who.login} has ${open} SSH connections open, the most allowed (ssh.max-connections); close one and try again.`,
          );
          if (told) socket?.end();
          drop();
          return false;
        }
        if (!counted) {
          counted = who.login;
          this.perUser.set(who.login, open + 1);
        }
        identity = who;
        config = cfg;
        return true;
      };
      const method = auth.method;
      void this.authenticate(auth, source, onSuccess)
        .then(async (result) => {
          // Every refused attempt counts, each key offered that is not this login's too
          // (the client's first `none` does not): per connection and per source address.
          if (result !== 'failed' || method === 'none') return;
          failures++;
          if (failures >= MAX_ATTEMPTS || (await this.countFailure(source))) drop();
        })
        .catch((err) => {
          log.error({ source, err: String(err) }, 'ssh login check failed');
          drop();
        });
    });

    client.on('ready', () => {
      // A client may be gone by the time its login was accepted: nothing is set up for it.
      if (closed || !identity || !config) {
        client.end();
        return;
      }
      pre.loggedIn = true;
      pre.release();
      for (const t of pre.timers) clearTimeout(t);
      this.live.set(client, { identity, drop });
      const idle = config['ssh.idle-timeout'];
      if (idle > 0) {
        idleTimer = setInterval(
          () => {
            if (Date.now() - lastActivity >= idle * 1000) {
              log.info({ source, user: identity?.login }, 'ssh connection idle too long; closing it');
              drop();
            }
          },
          Math.min(idle * 1000, 30_000),
        );
        idleTimer.unref();
      }
      // Channels refused say why (the open failure's reason and text), as OpenSSH's sshd does:
      // ssh2's reject() sends no text, so the failure it writes is given the one set just before.
      const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
      let why: Refusal | null = null;
      if (proto && typeof proto.channelOpenFail === 'function') {
        const fail = proto.channelOpenFail.bind(proto);
        proto.channelOpenFail = (remote, reason, description) => {
          const given = why;
          why = null;
          fail(remote, given ? OPEN_FAILURE[given.reason] : reason, given?.text ?? description);
        };
      }
      let connectionSessions = 0;
      const scope: ConnectionScope = {
        ctx,
        client,
        log,
        metrics,
        registry: this.registry,
        identity,
        source,
        config,
        deadlineMs: this.deadlineMs,
        reserveSession: () => {
          const login = identity?.login ?? '';
          const perConnection = config?.['ssh.max-sessions'] ?? 10;
          const perUser = config?.['ssh.max-user-sessions'] ?? 50;
          if (connectionSessions >= perConnection) {
            return { reason: 'resource-shortage', text: `berth: at most ${perConnection} sessions on one connection (ssh.max-sessions)` };
          }
          if (!this.registry.reserve(login, perUser)) {
            return { reason: 'resource-shortage', text: `berth: at most ${perUser} sessions for one user (ssh.max-user-sessions)` };
          }
          connectionSessions++;
          let released = false;
          return () => {
            if (released) return;
            released = true;
            connectionSessions--;
            this.registry.release(login);
          };
        },
        refuse: (reject, refusal) => {
          why = refusal;
          reject();
          why = null;
        },
        touch: () => {
          lastActivity = Date.now();
        },
        batch: () => {
          if (!socket || corked) return;
          corked = true;
          socket.cork();
          process.nextTick(() => {
            corked = false;
            socket.uncork();
          });
        },
        onClose: (fn) => {
          if (closed) {
            fn();
            return () => undefined;
          }
          const entry = () => fn();
          closers.add(entry);
          return () => {
            closers.delete(entry);
          };
        },
      };
      const gate = (open: () => void, reject: () => void) => {
        lastActivity = Date.now();
        const user = identity?.login ?? '';
        const perMinute = config?.['ssh.channel-rate'] ?? 120;
        void this.channels.take(user, perMinute).then((ok) => {
          if (closed) return;
          if (ok) return open();
          this.dropped(source, 'channel-rate', 'ssh channel refused: too many channels opened a minute', { user });
          scope.refuse(reject, {
            reason: 'resource-shortage',
            text: `berth: too many channels opened (at most ${perMinute} a minute, ssh.channel-rate); wait a little`,
          });
        });
      };
      client.on('session', (accept, reject) => gate(() => handleSessionChannel(scope, accept, reject), reject));
      client.on('tcpip', (accept, reject, info) => gate(() => handleDirectTcpip(scope, accept, reject, info), reject));
      // Remote forwarding (-R) when ssh.allow-remote-forward is on; unix-socket forwarding never.
      const remote = new RemoteForwards(scope);
      client.on('request', (accept, reject, name, info) => {
        lastActivity = Date.now();
        if (name === 'tcpip-forward' || name === 'cancel-tcpip-forward') {
          remote.handle(accept as ((port?: number) => void) | undefined, reject, name, info as TcpipBindInfo);
          return;
        }
        log.info({ source, user: identity?.login, request: name }, 'ssh global request refused');
        reject?.();
      });
      client.on('openssh.streamlocal', (_accept, reject) => reject());
    });
  }

  /** Public keys only; the state as it is now; nothing told about what did not match. */
  private async authenticate(
    auth: AuthContext,
    source: string,
    onSuccess: (identity: GatewayIdentity, config: ConfigValues) => boolean,
  ): Promise<'ok' | 'probe' | 'failed' | 'limit'> {
    const { log, metrics } = this.options;
    if (auth.method !== 'publickey') {
      auth.reject(['publickey']);
      return 'failed';
    }
    let state: State;
    try {
      state = await this.state();
    } catch (err) {
      log.error({ err: String(err) }, 'ssh login: the state could not be read');
      auth.reject(['publickey']);
      return 'failed';
    }
    const config = effectiveConfig(state.config);
    if (await this.limiter.banned(source, config['ssh.auth-rate'], config['ssh.ban'])) {
      metrics.authFailures.inc({ reason: 'banned' });
      auth.reject();
      return 'failed';
    }
    const result = authorizeGatewayKey(state, auth.username, auth.key.data);
    if (!result.ok) {
      metrics.authFailures.inc({ reason: result.reason });
      this.summary.note(source, `login-${result.reason}`, 'ssh login refused', { user: printable(auth.username), reason: result.reason });
      auth.reject(['publickey']);
      return 'failed';
    }
    if (!auth.signature) {
      // The client asks whether this key would do; it signs next.
      auth.accept();
      return 'probe';
    }
    const { utils } = createRequire(import.meta.url)('ssh2') as Ssh2;
    const parsed = utils.parseKey(`${result.identity.key.type} ${result.identity.key.data}`);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    const valid =
      key && !(key instanceof Error) && auth.blob && key.verify(auth.blob, auth.signature, auth.hashAlgo as string | undefined) === true;
    if (!valid) {
      metrics.authFailures.inc({ reason: 'bad-signature' });
      this.summary.note(source, 'login-bad-signature', 'ssh login refused', { user: printable(auth.username), reason: 'bad-signature' });
      auth.reject(['publickey']);
      return 'failed';
    }
    if (!onSuccess(result.identity, config)) return 'limit';
    log.info({ source, user: result.identity.login, fingerprint: result.identity.fingerprint, vm: result.identity.vmName }, 'ssh login');
    auth.accept();
    return 'ok';
  }

  private uncount(login: string): void {
    const n = (this.perUser.get(login) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(login);
    else this.perUser.set(login, n);
  }

  /** Counts one refused attempt from `source`; true when that got it banned. */
  private async countFailure(source: string): Promise<boolean> {
    const cfg = await this.config().catch(() => null);
    if (!cfg) return false;
    if (await this.limiter.fail(source, cfg['ssh.auth-rate'], cfg['ssh.ban'])) {
      this.options.log.warn({ source, banSeconds: cfg['ssh.ban'] }, 'ssh: too many failed logins from this address; banned');
      return true;
    }
    return false;
  }
}
