import type { ConfigValues } from '../values/config-keys.js';
import { printable } from '../values/names.js';

/**
 * The SSH gateway's decisions before and around login, as pure functions of the facts the gateway
 * reads (counts, the state's answers, the config, the time): who is let in at accept, what earns a
 * source a penalty, how a login attempt is answered, what a user may open once in. The gateway
 * (`daemon/ssh/server.ts`) gathers the facts, asks, and does what the answer says.
 */

/** A refusal or drop as the gateway records it: the reason it is counted and summarised under, the log line, its fields. */
export interface Drop {
  reason: string;
  message: string;
  fields?: Record<string, unknown>;
}

// --- At the TCP accept: MaxStartups and penalties -------------------------------------------

/** Why a connection not logged in yet was dropped at once. */
export type StartupRefusal = 'penalty' | 'per-source' | 'startups-full' | 'startups-early-drop';

export interface StartupLimits {
  perSource: number;
  /** sshd's MaxStartups start:rate:full. */
  start: number;
  rate: number;
  full: number;
}

/** What a source did to earn a penalty (sshd's PerSourcePenalties grace-exceeded and noauth). */
export type PenaltyCause = 'grace-exceeded' | 'noauth';

/** The penalty rules in force (config keys ssh.penalty-…), in ms; a cause of 0 earns nothing. */
export interface PenaltyRules {
  /** The longest a source can be refused for, however much it earned (0: penalties off). */
  maxMs: number;
  /** Penalties are only enforced once this much has built up (a single slip costs nothing). */
  minMs: number;
  amounts: Record<PenaltyCause, number>;
}

/** The pre-login limits in force (config keys ssh.max-startups…, ssh.login-grace, ssh.banner-timeout, ssh.penalty-…). */
export interface PreAuthLimits extends StartupLimits {
  graceMs: number;
  bannerMs: number;
  penalties: PenaltyRules;
}

export function preAuthLimits(cfg: ConfigValues): PreAuthLimits {
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

/**
 * sshd's random early drop chance (%) with `open` connections not logged in yet: none below
 * `start`, `rate` % at `start`, rising linearly to all of them at `full`.
 */
export function earlyDropChance(open: number, limits: StartupLimits): number {
  if (open < limits.start) return 0;
  if (open >= limits.full) return 100;
  return limits.rate + ((100 - limits.rate) * (open - limits.start)) / (limits.full - limits.start);
}

/** What the gateway knows of a new connection when it is accepted. */
export interface AdmissionInput {
  /** Connections of its source (IPv4 address, IPv6 /64) not logged in yet. */
  held: number;
  /** Connections not logged in yet, overall. */
  open: number;
  /** Its source is serving a penalty. */
  penalised: boolean;
}

/**
 * Whether a new connection is let in, decided before any work is done for it: a penalised
 * source is refused; a source at `perSource` is refused; nobody is let in at `full`. Below that,
 * a source that holds no slot is always let in: the random early drop (sshd's MaxStartups,
 * chance from `earlyDropChance`) only falls on sources that already hold slots, so the slots a
 * flood holds make the flood's own connections likelier to be dropped, never a newcomer's.
 * `roll` is a random number in [0, 1).
 */
export function admission(input: AdmissionInput, limits: StartupLimits, roll: number): 'admit' | StartupRefusal {
  if (input.penalised) return 'penalty';
  if (input.held >= limits.perSource) return 'per-source';
  if (input.open >= limits.full) return 'startups-full';
  if (input.held === 0) return 'admit';
  return roll * 100 < earlyDropChance(input.open, limits) ? 'startups-early-drop' : 'admit';
}

const PENALISED = 'ssh source penalised: its new connections are refused for a while';

/** How a connection refused at accept is recorded (`refusedMs`: what is left of its source's penalty). */
export function acceptDrop(refusal: StartupRefusal, refusedMs: number): Drop {
  if (refusal === 'penalty') return { reason: 'penalty', message: PENALISED, fields: { seconds: Math.ceil(refusedMs / 1000) } };
  return { reason: refusal, message: 'ssh connection dropped: too many connections not logged in yet' };
}

/** One source's penalty: refused until `untilMs` once `active`. */
export interface Penalty {
  untilMs: number;
  active: boolean;
}

/**
 * sshd's PerSourcePenalties, as a decision: a source with no running penalty starts one of
 * `amountMs`; one with a running penalty has it lengthened by `amountMs`, to at most `maxMs` from
 * now. It is enforced once what is left reaches `minMs`, and stays so until it runs out. What is
 * left shrinks as time passes, so a source that stops misbehaving is let in again.
 * Returns the penalty unchanged when the cause earns nothing.
 */
export function addPenalty(
  prev: Penalty | undefined,
  amountMs: number,
  nowMs: number,
  rules: Pick<PenaltyRules, 'maxMs' | 'minMs'>,
): Penalty | undefined {
  if (amountMs <= 0 || rules.maxMs <= 0) return prev;
  const running = prev !== undefined && prev.untilMs > nowMs;
  const untilMs = Math.min((running ? prev.untilMs : nowMs) + amountMs, nowMs + rules.maxMs);
  // A threshold over the maximum could never be reached: the maximum is the threshold then.
  const threshold = Math.min(rules.minMs, rules.maxMs);
  return { untilMs, active: (running && prev.active) || untilMs - nowMs >= threshold };
}

/** How long a source with this penalty is still refused (0: it is let in). */
export function refusedForMs(penalty: Penalty | undefined, nowMs: number): number {
  return penalty?.active && penalty.untilMs > nowMs ? penalty.untilMs - nowMs : 0;
}

/** The log summary's line when a misdeed made its source refused. */
export function penaltyNote(cause: PenaltyCause, refusedMs: number): Drop {
  return { reason: 'penalty', message: PENALISED, fields: { cause, seconds: Math.ceil(refusedMs / 1000) } };
}

// --- Before login: deadlines and misdeeds ---------------------------------------------------

/** How far a connection got before logging in. */
export interface PreLoginProgress {
  /** The client sent its identification line. */
  identified: boolean;
  loggedIn: boolean;
  /** It already earned its source a penalty (one per connection). */
  penalised: boolean;
}

/** A misdeed counts against its source only once per connection, and never once it logged in. */
export function earnsPenalty(progress: PreLoginProgress): boolean {
  return !progress.penalised && !progress.loggedIn;
}

/** The two deadlines counted from the accept: ssh.banner-timeout and ssh.login-grace. */
export type PreLoginDeadline = 'banner-timeout' | 'login-grace';

/** A deadline passed: the connection is cut (and its source penalised) unless it got that far, or is gone already. */
export function deadlinePassed(
  deadline: PreLoginDeadline,
  progress: PreLoginProgress,
  gone: boolean,
): { drop: Drop; cause: PenaltyCause } | null {
  if (gone || (deadline === 'banner-timeout' ? progress.identified : progress.loggedIn)) return null;
  const message = deadline === 'banner-timeout' ? 'no identification line in time' : 'not logged in in time';
  return { drop: { reason: deadline, message: `ssh connection cut: ${message}` }, cause: 'grace-exceeded' };
}

/**
 * An error ssh2 reports on a connection: anything but the socket's own errors and our deadlines
 * is the client breaking the protocol (garbage, a broken packet, no algorithm in common).
 */
export function errorPenalty(level: string | undefined): PenaltyCause | null {
  return level === 'socket' || level === 'client-timeout' ? null : 'noauth';
}

/** ssh2 ended the socket before the client identified itself: it sent garbage instead. */
export function garbagePenalty(identified: boolean, socketEnded: boolean): PenaltyCause | null {
  return !identified && socketEnded ? 'noauth' : null;
}

/** A connection from an address banned for failed logins is dropped as soon as the state says so. */
export const BANNED_DROP: Drop = { reason: 'banned', message: 'ssh connection from a banned address dropped' };

// --- A login attempt ------------------------------------------------------------------------

/**
 * What the gateway learned of one authentication attempt. Every fact after `method` is looked up
 * only when `loginStep` asks for it (`need`), so nothing is read or verified that would not change
 * the answer: a banned source's signature is never checked.
 */
export interface LoginFacts {
  /** ssh2's method: none, password, keyboard-interactive, publickey… */
  method: string;
  /** The user name the client gave. */
  username: string;
  /** Whether the state could be read. */
  stateRead?: boolean;
  /** The source is banned for failed logins (ssh.auth-rate, ssh.ban). */
  banned?: boolean;
  /** The offered key against the state: whose it is, or why it lets nobody in. */
  key?: { ok: true; login: string } | { ok: false; reason: string };
  /** The attempt's signature: none (the client asks whether the key would do), or checked against the key. */
  signature?: 'absent' | 'valid' | 'invalid';
  /** The user's logged-in connections and their cap (ssh.max-connections); `counted`: this connection is one. */
  connections?: { open: number; max: number; counted: boolean };
}

export type LoginNeed = 'state' | 'ban' | 'key' | 'signature' | 'connections';

/** How an attempt is answered. */
export type LoginVerdict =
  /** Refused; `offer`: publickey is named as the method that may go on; `failure`: the auth failure metric's reason. */
  | { kind: 'refuse'; offer: boolean; failure?: string; note?: Drop }
  /** The key would do: the client is told so and signs next. */
  | { kind: 'probe' }
  /** The user is at ssh.max-connections: told why in the disconnect, and cut. */
  | { kind: 'limit'; drop: Drop; disconnect: string }
  /** Let in; `count`: this connection starts counting in its user's connections. */
  | { kind: 'login'; count: boolean };

const OFFER: LoginVerdict = { kind: 'refuse', offer: true };

/** A refused key or signature, summarised in the log (the user name printable, whatever was sent). */
function refusedLogin(username: string, reason: string): LoginVerdict {
  const note = { reason: `login-${reason}`, message: 'ssh login refused', fields: { user: printable(username), reason } };
  return { kind: 'refuse', offer: true, failure: reason, note };
}

/**
 * The next step of a login attempt: a fact to look up, or the answer. Public keys only; a banned
 * source is refused without a word of which methods could go on; nothing said about what did
 * not match.
 */
export function loginStep(f: LoginFacts): LoginVerdict | { need: LoginNeed } {
  if (f.method !== 'publickey') return OFFER;
  if (f.stateRead === undefined) return { need: 'state' };
  if (!f.stateRead) return OFFER;
  if (f.banned === undefined) return { need: 'ban' };
  if (f.banned) return { kind: 'refuse', offer: false, failure: 'banned' };
  if (!f.key) return { need: 'key' };
  if (!f.key.ok) return refusedLogin(f.username, f.key.reason);
  if (!f.signature) return { need: 'signature' };
  if (f.signature === 'absent') return { kind: 'probe' };
  if (f.signature === 'invalid') return refusedLogin(f.username, 'bad-signature');
  if (!f.connections) return { need: 'connections' };
  return userConnections(f.key.login, f.connections);
}

/** A user at ssh.max-connections is told so, and not let in; a connection already counted is never refused. */
function userConnections(login: string, c: NonNullable<LoginFacts['connections']>): LoginVerdict {
  if (c.counted) return { kind: 'login', count: false };
  if (c.open < c.max) return { kind: 'login', count: true };
  return {
    kind: 'limit',
    drop: { reason: 'user-connections', message: 'ssh login refused: too many connections for this user', fields: { user: login } },
    disconnect: `berth: ${login} has ${c.open} SSH connections open, the most allowed (ssh.max-connections); close one and try again.`,
  };
}

/** Attempts one connection may make before it is cut (each key an agent holds is one). */
export const MAX_ATTEMPTS = 6;

/**
 * After an attempt was answered: every refused attempt counts, each key offered that is not this
 * login's too (the client's first `none` does not), per connection and per source address. The
 * connection is cut at MAX_ATTEMPTS; below that the attempt counts against its source, which may
 * ban it (and cut the connection then).
 */
export function afterAttempt(
  verdict: LoginVerdict['kind'],
  method: string,
  failures: number,
): { failures: number; next: 'go-on' | 'cut' | 'count-at-source' } {
  if (verdict !== 'refuse' || method === 'none') return { failures, next: 'go-on' };
  const now = failures + 1;
  return { failures: now, next: now >= MAX_ATTEMPTS ? 'cut' : 'count-at-source' };
}

// --- Once logged in -------------------------------------------------------------------------

/** A channel refused for a lack of room (RFC 4254's resource shortage), with the line the client prints. */
export interface ShortageRefusal {
  reason: 'resource-shortage';
  text: string;
}

/** Sessions on one connection (ssh.max-sessions, sshd's MaxSessions): why not one more, or null. */
export function connectionSessionsFull(open: number, max: number): ShortageRefusal | null {
  return open >= max ? { reason: 'resource-shortage', text: `berth: at most ${max} sessions on one connection (ssh.max-sessions)` } : null;
}

/** A user's sessions over all their connections are at ssh.max-user-sessions. */
export function userSessionsFull(max: number): ShortageRefusal {
  return { reason: 'resource-shortage', text: `berth: at most ${max} sessions for one user (ssh.max-user-sessions)` };
}

/** A user opened more channels a minute than ssh.channel-rate allows: the drop recorded and the client's line. */
export function channelRateRefusal(user: string, perMinute: number): { drop: Drop; refusal: ShortageRefusal } {
  return {
    drop: { reason: 'channel-rate', message: 'ssh channel refused: too many channels opened a minute', fields: { user } },
    refusal: {
      reason: 'resource-shortage',
      text: `berth: too many channels opened (at most ${perMinute} a minute, ssh.channel-rate); wait a little`,
    },
  };
}

/** Global requests: remote forwarding (`ssh -R`, ruled on by its own handler); anything else is refused. */
export function globalRequest(name: string): 'remote-forward' | 'refuse' {
  return name === 'tcpip-forward' || name === 'cancel-tcpip-forward' ? 'remote-forward' : 'refuse';
}

/** How often a connection is checked for ssh.idle-timeout (seconds; 0: never), at most every 30 s. */
export function idleCheckEveryMs(idleSeconds: number): number | null {
  return idleSeconds > 0 ? Math.min(idleSeconds * 1000, 30_000) : null;
}

/** A connection with no traffic for ssh.idle-timeout is closed. */
export function idleTooLong(nowMs: number, lastActivityMs: number, idleSeconds: number): boolean {
  return nowMs - lastActivityMs >= idleSeconds * 1000;
}
