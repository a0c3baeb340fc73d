import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net';
import type pino from 'pino';
import type { AuthContext, Connection, PublicKeyAuthContext, Server as SshServer, TcpipBindInfo } from 'ssh2';
import {
  acceptDrop,
  afterAttempt,
  BANNED_DROP,
  channelRateRefusal,
  connectionSessionsFull,
  type Drop,
  deadlinePassed,
  earnsPenalty,
  errorPenalty,
  garbagePenalty,
  globalRequest,
  idleCheckEveryMs,
  idleTooLong,
  type LoginFacts,
  type LoginNeed,
  type LoginVerdict,
  loginStep,
  type PenaltyCause,
  type PreAuthLimits,
  type PreLoginDeadline,
  type PreLoginProgress,
  penaltyNote,
  preAuthLimits,
  userSessionsFull,
} from '../../src/domain/ssh-admission.js';
import { accessWithdrawn, authorizeGatewayKey, type GatewayIdentity, maintenanceBanner } from '../../src/services/access/ssh-access.js';
import type { HostKey } from '../../src/services/access/ssh-host-key.js';
import type { Berth } from '../../src/services/core/context.js';
import { engineDeadlineMs } from '../../src/services/engine/deadline.js';
import type { State } from '../../src/state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../src/values/config-keys.js';
import { listenParts } from '../../src/values/listen-address.js';
import { LogSummary } from '../log-summary.js';
import type { SshMetrics } from '../metrics.js';
import { recordingMetrics } from '../metrics.js';
import { Recorder } from '../recorder.js';
import { SessionRegistry, type SessionView } from '../sessions.js';
import { watchDir } from '../state-watch.js';
import { handleSessionChannel } from './channel-bridge.js';
import type { ConnectionScope, Refusal } from './connection-scope.js';
import { handleDirectTcpip } from './forwarding.js';
import { floorPacketSizes } from './packet-floor.js';
import { SourcePenalties } from './penalties.js';
import { AuthRateLimit, ChannelRate, PreAuthSlots } from './rate-limit.js';
import { RemoteForwards } from './remote-forward.js';
import {
  DISCONNECT_TOO_MANY_CONNECTIONS,
  disconnectWith,
  explainChannelRefusals,
  holdAuthService,
  setBanner,
  socketOf,
} from './ssh2-internals.js';

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
  /** Records sessions (sessions.record); its own when none is given. */
  recorder?: Recorder;
}

/** A connection from its TCP accept until it logs in (or goes). */
interface PreAuth extends PreLoginProgress {
  /** Frees its pre-login slot (idempotent). */
  release: () => void;
  timers: NodeJS.Timeout[];
}

/** One connection from ssh2's handshake on: what its handlers share. */
interface Conn {
  client: Connection;
  source: string;
  socket: Socket | undefined;
  pre: PreAuth;
  /** Ends the connection; a peer that does not close its side is cut off 2 s later. */
  drop: () => void;
  /** Who logged in, with the config read for that login (set when the login is accepted). */
  identity: GatewayIdentity | null;
  config: ConfigValues | null;
  /** Refused attempts so far (MAX_ATTEMPTS). */
  failures: number;
  closed: boolean;
  /** Set once this connection counts in its user's ssh.max-connections. */
  counted: string | null;
  closers: Set<() => void>;
  idleTimer: NodeJS.Timeout | null;
  lastActivity: number;
  corked: boolean;
}

/** A login attempt's facts, with what the gateway keeps of the ones it looked up. */
interface Attempt {
  facts: LoginFacts;
  state?: State;
  config?: ConfigValues;
  identity?: GatewayIdentity;
}

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
  private readonly recorder: Recorder;
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
    this.recorder = options.recorder ?? new Recorder({ home: options.ctx.store.home, log: options.log, metrics: recordingMetrics() });
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
  private dropped(source: string, drop: Drop): void {
    this.options.metrics.drops.inc({ reason: drop.reason });
    this.summary.note(source, drop.reason, drop.message, drop.fields);
  }

  /**
   * `source` misbehaved before logging in (a deadline passed, or it broke the protocol): it earns
   * a penalty (ssh.penalty-…), once per connection. Once its penalties add up to ssh.penalty-min,
   * its new connections are refused at accept, before any crypto, until the penalty runs out.
   */
  private penalise(source: string, pre: PreAuth, cause: PenaltyCause | null): void {
    const limits = this.limits;
    if (!cause || !earnsPenalty(pre) || !limits) return;
    pre.penalised = true;
    const { refusedMs, started } = this.penalties.penalise(source, cause, limits.penalties);
    if (!started) return;
    const note = penaltyNote(cause, refusedMs);
    this.summary.note(source, note.reason, note.message, note.fields);
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
      this.dropped(source, acceptDrop(typeof taken === 'string' ? taken : 'startups-full', refusedMs));
      socket.destroy();
      return;
    }
    const pre: PreAuth = { release: taken, identified: false, loggedIn: false, penalised: false, timers: [] };
    pre.timers.push(
      this.deadline(socket, source, pre, 'banner-timeout', limits.bannerMs),
      this.deadline(socket, source, pre, 'login-grace', limits.graceMs),
    );
    for (const t of pre.timers) t.unref();
    // Garbage instead of an identification line: ssh2 ends the socket from its own data handler
    // (its errors before the line are not emitted); seen here once every handler had the chunk.
    const sniff = () => {
      if (pre.identified) {
        socket.off('data', sniff);
        return;
      }
      process.nextTick(() => this.penalise(source, pre, garbagePenalty(pre.identified, socket.writableEnded)));
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

  /** Cuts the connection (and penalises its source) if it has not got that far when `deadline` passes. */
  private deadline(socket: Socket, source: string, pre: PreAuth, deadline: PreLoginDeadline, ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      const passed = deadlinePassed(deadline, pre, socket.destroyed);
      if (!passed) return;
      this.dropped(source, passed.drop);
      this.penalise(source, pre, passed.cause);
      socket.destroy();
    }, ms);
  }

  /** ssh2 made a connection of an accepted socket (its identification line came): its handlers. */
  private onConnection(client: Connection, source: string): void {
    const { log } = this.options;
    let pre: PreAuth | undefined;
    client.on('error', (err: Error & { level?: string }) => {
      log.debug({ source, err: String(err) }, 'ssh connection error');
      if (pre) this.penalise(source, pre, errorPenalty(err.level));
    });
    const socket = socketOf(client);
    pre = socket ? this.pending.get(socket) : undefined;
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
    const conn: Conn = {
      client,
      source,
      socket,
      pre,
      drop: () => {
        client.end();
        setTimeout(() => socket?.destroy(), 2000).unref();
      },
      identity: null,
      config: null,
      failures: 0,
      closed: false,
      counted: null,
      closers: new Set(),
      idleTimer: null,
      lastActivity: Date.now(),
      corked: false,
    };
    client.on('close', () => this.onClosed(conn));
    // The banner (why logins are refused during maintenance) goes out with the auth service's
    // acceptance, which waits for this connection's state read (well before most clients get there).
    holdAuthService(client, this.preLogin(conn), BANNER_WAIT_MS, () => conn.closed);
    client.on('authentication', (auth) => this.onAuthentication(conn, auth));
    client.on('ready', () => this.onReady(conn));
  }

  private onClosed(conn: Conn): void {
    conn.closed = true;
    conn.pre.release();
    if (conn.counted) this.uncount(conn.counted);
    conn.counted = null;
    this.connections.delete(conn.client);
    this.live.delete(conn.client);
    if (conn.idleTimer) clearInterval(conn.idleTimer);
    const fns = [...conn.closers];
    conn.closers.clear();
    for (const fn of fns) fn();
  }

  /** The state read for a new connection: its maintenance banner; a banned source is dropped. */
  private async preLogin(conn: Conn): Promise<void> {
    const state = await this.state().catch(() => null);
    if (!state || conn.closed) return;
    setBanner(conn.client, maintenanceBanner(state) ?? undefined);
    const cfg = effectiveConfig(state.config);
    if (await this.limiter.banned(conn.source, cfg['ssh.auth-rate'], cfg['ssh.ban'])) {
      this.dropped(conn.source, BANNED_DROP);
      conn.drop();
    }
  }

  /** One login attempt answered, then counted (per connection, per source) when refused. */
  private onAuthentication(conn: Conn, auth: AuthContext): void {
    const method = auth.method;
    void this.authenticate(conn, auth)
      .then(async (verdict) => {
        const after = afterAttempt(verdict, method, conn.failures);
        conn.failures = after.failures;
        if (after.next === 'cut' || (after.next === 'count-at-source' && (await this.countFailure(conn.source)))) conn.drop();
      })
      .catch((err) => {
        this.options.log.error({ source: conn.source, err: String(err) }, 'ssh login check failed');
        conn.drop();
      });
  }

  /** Public keys only; the state as it is now: the facts `loginStep` asks for, one by one, then its verdict carried out. */
  private async authenticate(conn: Conn, auth: AuthContext): Promise<LoginVerdict['kind']> {
    const attempt: Attempt = { facts: { method: auth.method, username: auth.username } };
    const key = auth.method === 'publickey' ? auth : null;
    let step = loginStep(attempt.facts);
    while ('need' in step) {
      if (!key) throw new Error(`ssh login: ${step.need} asked of a ${auth.method} attempt`);
      // Awaited only when the fact takes a read: the user's connections are counted with no wait in between.
      const reading = this.lookUp(step.need, conn, key, attempt);
      if (reading) await reading;
      step = loginStep(attempt.facts);
    }
    this.answer(conn, auth, attempt, step);
    return step.kind;
  }

  /** Looks one fact of a login attempt up. */
  private lookUp(need: LoginNeed, conn: Conn, auth: PublicKeyAuthContext, a: Attempt): Promise<void> | undefined {
    const f = a.facts;
    switch (need) {
      case 'state':
        return this.state().then(
          (state) => {
            a.state = state;
            a.config = effectiveConfig(state.config);
            f.stateRead = true;
          },
          (err) => {
            this.options.log.error({ err: String(err) }, 'ssh login: the state could not be read');
            f.stateRead = false;
          },
        );
      case 'ban': {
        const cfg = known(a.config, 'the config');
        return this.limiter.banned(conn.source, cfg['ssh.auth-rate'], cfg['ssh.ban']).then((banned) => {
          f.banned = banned;
        });
      }
      case 'key': {
        const result = authorizeGatewayKey(known(a.state, 'the state'), auth.username, auth.key.data);
        if (result.ok) a.identity = result.identity;
        f.key = result.ok ? { ok: true, login: result.identity.login } : { ok: false, reason: result.reason };
        return;
      }
      case 'signature':
        f.signature = !auth.signature ? 'absent' : signatureValid(known(a.identity, 'the key').key, auth) ? 'valid' : 'invalid';
        return;
      case 'connections': {
        const login = known(a.identity, 'the user').login;
        const max = known(a.config, 'the config')['ssh.max-connections'];
        f.connections = { open: this.perUser.get(login) ?? 0, max, counted: conn.counted !== null };
        return;
      }
    }
  }

  /** Carries a login attempt's verdict out. */
  private answer(conn: Conn, auth: AuthContext, a: Attempt, verdict: LoginVerdict): void {
    const { log, metrics } = this.options;
    if (verdict.kind === 'refuse') {
      if (verdict.failure) metrics.authFailures.inc({ reason: verdict.failure });
      if (verdict.note) this.summary.note(conn.source, verdict.note.reason, verdict.note.message, verdict.note.fields);
      if (verdict.offer) auth.reject(['publickey']);
      else auth.reject();
    } else if (verdict.kind === 'probe') {
      auth.accept();
    } else if (verdict.kind === 'limit') {
      this.dropped(conn.source, verdict.drop);
      if (disconnectWith(conn.client, DISCONNECT_TOO_MANY_CONNECTIONS, verdict.disconnect)) conn.socket?.end();
      conn.drop();
    } else {
      const who = known(a.identity, 'the user');
      if (verdict.count) {
        conn.counted = who.login;
        this.perUser.set(who.login, (a.facts.connections?.open ?? 0) + 1);
      }
      conn.identity = who;
      conn.config = known(a.config, 'the config');
      log.info({ source: conn.source, user: who.login, fingerprint: who.fingerprint, vm: who.vmName }, 'ssh login');
      auth.accept();
    }
  }

  /** Logged in: the idle timeout, and the channels and requests it may open. */
  private onReady(conn: Conn): void {
    const { client, identity, config } = conn;
    // A client may be gone by the time its login was accepted: nothing is set up for it.
    if (conn.closed || !identity || !config) {
      client.end();
      return;
    }
    conn.pre.loggedIn = true;
    conn.pre.release();
    for (const t of conn.pre.timers) clearTimeout(t);
    this.live.set(client, { identity, drop: conn.drop });
    this.watchIdle(conn, config['ssh.idle-timeout']);
    const scope = this.scope(conn, identity, config);
    const gate = (open: () => void, reject: () => void) => this.gate(conn, scope, open, reject);
    client.on('session', (accept, reject) => gate(() => handleSessionChannel(scope, accept, reject), reject));
    client.on('tcpip', (accept, reject, info) => gate(() => handleDirectTcpip(scope, accept, reject, info), reject));
    // Remote forwarding (-R) when ssh.allow-remote-forward is on; unix-socket forwarding never.
    const remote = new RemoteForwards(scope);
    client.on('request', (accept, reject, name, info) => {
      conn.lastActivity = Date.now();
      if (globalRequest(name) === 'remote-forward') {
        remote.handle(accept as ((port?: number) => void) | undefined, reject, name, info as TcpipBindInfo);
        return;
      }
      this.options.log.info({ source: conn.source, user: identity.login, request: name }, 'ssh global request refused');
      reject?.();
    });
    client.on('openssh.streamlocal', (_accept, reject) => reject());
  }

  /** Closes the connection once it has had no traffic for ssh.idle-timeout. */
  private watchIdle(conn: Conn, idleSeconds: number): void {
    const every = idleCheckEveryMs(idleSeconds);
    if (every === null) return;
    conn.idleTimer = setInterval(() => {
      if (!idleTooLong(Date.now(), conn.lastActivity, idleSeconds)) return;
      this.options.log.info({ source: conn.source, user: conn.identity?.login }, 'ssh connection idle too long; closing it');
      conn.drop();
    }, every);
    conn.idleTimer.unref();
  }

  /** What the connection hands each of its channels. */
  private scope(conn: Conn, identity: GatewayIdentity, config: ConfigValues): ConnectionScope {
    const { ctx, log, metrics } = this.options;
    const { client, socket } = conn;
    return {
      ctx,
      client,
      log,
      metrics,
      registry: this.registry,
      recorder: this.recorder,
      identity,
      source: conn.source,
      config,
      deadlineMs: this.deadlineMs,
      reserveSession: this.sessionSlots(identity.login, config),
      refuse: explainChannelRefusals(client),
      touch: () => {
        conn.lastActivity = Date.now();
      },
      // ssh2 writes each packet to the socket on its own; corked for a tick, they leave together.
      batch: () => {
        if (!socket || conn.corked) return;
        conn.corked = true;
        socket.cork();
        process.nextTick(() => {
          conn.corked = false;
          socket.uncork();
        });
      },
      onClose: (fn) => {
        if (conn.closed) {
          fn();
          return () => undefined;
        }
        const entry = () => fn();
        conn.closers.add(entry);
        return () => {
          conn.closers.delete(entry);
        };
      },
    };
  }

  /** A connection's session slots: ssh.max-sessions on it, ssh.max-user-sessions for its user (the registry counts those). */
  private sessionSlots(login: string, config: ConfigValues): () => (() => void) | Refusal {
    let open = 0;
    return () => {
      const full = connectionSessionsFull(open, config['ssh.max-sessions']);
      if (full) return full;
      const perUser = config['ssh.max-user-sessions'];
      if (!this.registry.reserve(login, perUser)) return userSessionsFull(perUser);
      open++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        open--;
        this.registry.release(login);
      };
    };
  }

  /** Each channel opened counts in its user's ssh.channel-rate: opened, or refused saying why. */
  private gate(conn: Conn, scope: ConnectionScope, open: () => void, reject: () => void): void {
    conn.lastActivity = Date.now();
    const user = scope.identity.login;
    const perMinute = scope.config['ssh.channel-rate'];
    void this.channels.take(user, perMinute).then((ok) => {
      if (conn.closed) return;
      if (ok) return open();
      const { drop, refusal } = channelRateRefusal(user, perMinute);
      this.dropped(conn.source, drop);
      scope.refuse(reject, refusal);
    });
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

/** A fact of a login attempt that an earlier step read (`loginStep` asks in order). */
function known<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`ssh login: ${what} was asked for before it was read`);
  return value;
}

/** Whether the attempt was signed with the user's stored key (ssh2's own parsing and verification). */
function signatureValid(stored: GatewayIdentity['key'], auth: PublicKeyAuthContext): boolean {
  const { utils } = createRequire(import.meta.url)('ssh2') as Ssh2;
  const parsed = utils.parseKey(`${stored.type} ${stored.data}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return Boolean(
    key && !(key instanceof Error) && auth.blob && auth.signature && key.verify(auth.blob, auth.signature, auth.hashAlgo) === true,
  );
}
