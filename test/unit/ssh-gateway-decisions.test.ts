import { describe, expect, it } from 'vitest';
import {
  acceptDrop,
  afterAttempt,
  channelRateRefusal,
  connectionSessionsFull,
  deadlinePassed,
  earnsPenalty,
  errorPenalty,
  garbagePenalty,
  globalRequest,
  idleCheckEveryMs,
  idleTooLong,
  type LoginFacts,
  loginStep,
  MAX_ATTEMPTS,
  penaltyNote,
  preAuthLimits,
  userSessionsFull,
} from '../../src/domain/ssh-admission.js';
import { type ConfigSet, effectiveConfig } from '../../src/values/config-keys.js';

describe('the pre-login limits the config comes to', () => {
  it('reads them in ms, MaxStartups spread out', () => {
    const set = { 'ssh.login-grace': 30, 'ssh.penalty-noauth': 0, 'ssh.max-startups': { start: 5, rate: 50, full: 20 } } as ConfigSet;
    expect(preAuthLimits(effectiveConfig(set))).toEqual({
      perSource: 10,
      start: 5,
      rate: 50,
      full: 20,
      graceMs: 30_000,
      bannerMs: 10_000,
      penalties: { maxMs: 600_000, minMs: 15_000, amounts: { 'grace-exceeded': 20_000, noauth: 0 } },
    });
  });
});

describe('what the gateway records of a connection refused at accept', () => {
  const crowded = 'ssh connection dropped: too many connections not logged in yet';
  it.each([
    { refusal: 'penalty', refusedMs: 14_001, out: { reason: 'penalty', fields: { seconds: 15 } } },
    { refusal: 'per-source', refusedMs: 0, out: { reason: 'per-source', message: crowded } },
    { refusal: 'startups-full', refusedMs: 0, out: { reason: 'startups-full', message: crowded } },
    { refusal: 'startups-early-drop', refusedMs: 0, out: { reason: 'startups-early-drop', message: crowded } },
  ] as const)('$refusal', ({ refusal, refusedMs, out }) => {
    expect(acceptDrop(refusal, refusedMs)).toMatchObject(out);
  });

  it('says a penalised source is refused for a while, with its cause when a misdeed started it', () => {
    expect(acceptDrop('penalty', 1000).message).toMatch(/penalised/);
    expect(penaltyNote('noauth', 15_000)).toEqual({
      reason: 'penalty',
      message: acceptDrop('penalty', 0).message,
      fields: { cause: 'noauth', seconds: 15 },
    });
  });
});

describe('misdeeds before login', () => {
  it.each([
    { progress: { identified: false, loggedIn: false, penalised: false }, earns: true },
    { progress: { identified: true, loggedIn: false, penalised: false }, earns: true },
    { progress: { identified: true, loggedIn: false, penalised: true }, earns: false },
    { progress: { identified: true, loggedIn: true, penalised: false }, earns: false },
  ])('one earns a penalty: $earns with $progress', ({ progress, earns }) => {
    expect(earnsPenalty(progress)).toBe(earns);
  });

  const at = (identified: boolean, loggedIn: boolean) => ({ identified, loggedIn, penalised: false });
  it.each([
    {
      why: 'no identification line',
      deadline: 'banner-timeout',
      progress: at(false, false),
      gone: false,
      cut: 'no identification line in time',
    },
    { why: 'identified in time', deadline: 'banner-timeout', progress: at(true, false), gone: false, cut: null },
    { why: 'gone before the banner deadline', deadline: 'banner-timeout', progress: at(false, false), gone: true, cut: null },
    { why: 'not logged in', deadline: 'login-grace', progress: at(true, false), gone: false, cut: 'not logged in in time' },
    { why: 'logged in in time', deadline: 'login-grace', progress: at(true, true), gone: false, cut: null },
    { why: 'gone before the login deadline', deadline: 'login-grace', progress: at(true, false), gone: true, cut: null },
  ] as const)('$deadline, $why', ({ deadline, progress, gone, cut }) => {
    const passed = deadlinePassed(deadline, progress, gone);
    if (cut === null) expect(passed).toBeNull();
    else expect(passed).toEqual({ drop: { reason: deadline, message: `ssh connection cut: ${cut}` }, cause: 'grace-exceeded' });
  });

  it.each([
    { level: 'socket', cause: null },
    { level: 'client-timeout', cause: null },
    { level: 'protocol', cause: 'noauth' },
    { level: 'handshake', cause: 'noauth' },
    { level: undefined, cause: 'noauth' },
  ])('an ssh2 error of level $level earns $cause', ({ level, cause }) => {
    expect(errorPenalty(level)).toBe(cause);
  });

  it.each([
    { identified: false, ended: true, cause: 'noauth' },
    { identified: false, ended: false, cause: null },
    { identified: true, ended: true, cause: null },
  ])('a socket ended ($ended) before identification ($identified) earns $cause', ({ identified, ended, cause }) => {
    expect(garbagePenalty(identified, ended)).toBe(cause);
  });
});

describe('a login attempt, step by step', () => {
  const base: LoginFacts = { method: 'publickey', username: 'alice' };
  const keyed: LoginFacts = { ...base, stateRead: true, banned: false, key: { ok: true, login: 'alice' } };
  const signed: LoginFacts = { ...keyed, signature: 'valid' };
  const refusedNote = (reason: string, user = 'alice') => ({
    reason: `login-${reason}`,
    message: 'ssh login refused',
    fields: { user, reason },
  });
  it.each([
    { why: 'the first none', facts: { method: 'none', username: 'alice' }, out: { kind: 'refuse', offer: true } },
    { why: 'a password', facts: { method: 'password', username: 'alice' }, out: { kind: 'refuse', offer: true } },
    { why: 'keyboard-interactive', facts: { method: 'keyboard-interactive', username: 'x' }, out: { kind: 'refuse', offer: true } },
    { why: 'a key, nothing read yet', facts: base, out: { need: 'state' } },
    { why: 'the state unreadable', facts: { ...base, stateRead: false }, out: { kind: 'refuse', offer: true } },
    { why: 'the state read', facts: { ...base, stateRead: true }, out: { need: 'ban' } },
    {
      why: 'a banned source, told nothing of methods',
      facts: { ...base, stateRead: true, banned: true },
      out: { kind: 'refuse', offer: false, failure: 'banned' },
    },
    { why: 'not banned', facts: { ...base, stateRead: true, banned: false }, out: { need: 'key' } },
    {
      why: 'an unknown key',
      facts: { ...keyed, key: { ok: false, reason: 'unknown-key' } },
      out: { kind: 'refuse', offer: true, failure: 'unknown-key', note: refusedNote('unknown-key') },
    },
    {
      why: 'a user name escaped in the log',
      facts: { ...keyed, username: 'a\nb', key: { ok: false, reason: 'bad-login' } },
      out: { kind: 'refuse', offer: true, failure: 'bad-login', note: refusedNote('bad-login', 'a\\nb') },
    },
    { why: 'the key matched', facts: keyed, out: { need: 'signature' } },
    { why: 'a probe (no signature)', facts: { ...keyed, signature: 'absent' }, out: { kind: 'probe' } },
    {
      why: 'a bad signature',
      facts: { ...keyed, signature: 'invalid' },
      out: { kind: 'refuse', offer: true, failure: 'bad-signature', note: refusedNote('bad-signature') },
    },
    { why: 'a valid signature', facts: signed, out: { need: 'connections' } },
    {
      why: 'below ssh.max-connections',
      facts: { ...signed, connections: { open: 9, max: 10, counted: false } },
      out: { kind: 'login', count: true },
    },
    {
      why: 'a connection already counted, at the cap',
      facts: { ...signed, connections: { open: 10, max: 10, counted: true } },
      out: { kind: 'login', count: false },
    },
  ] as { why: string; facts: LoginFacts; out: object }[])('$why', ({ facts, out }) => {
    expect(loginStep(facts)).toEqual(out);
  });

  it('refuses a user at ssh.max-connections, saying so in the disconnect', () => {
    expect(loginStep({ ...signed, connections: { open: 3, max: 3, counted: false } })).toEqual({
      kind: 'limit',
      drop: { reason: 'user-connections', message: 'ssh login refused: too many connections for this user', fields: { user: 'alice' } },
      disconnect: 'berth: alice has 3 SSH connections open, the most allowed (ssh.max-connections); close one and try again.',
    });
  });

  it.each([
    { why: 'a login', verdict: 'login', method: 'publickey', failures: 2, out: { failures: 2, next: 'go-on' } },
    { why: 'a probe', verdict: 'probe', method: 'publickey', failures: 0, out: { failures: 0, next: 'go-on' } },
    { why: 'the per-user limit', verdict: 'limit', method: 'publickey', failures: 5, out: { failures: 5, next: 'go-on' } },
    { why: 'the first none', verdict: 'refuse', method: 'none', failures: 5, out: { failures: 5, next: 'go-on' } },
    { why: 'a refused key', verdict: 'refuse', method: 'publickey', failures: 0, out: { failures: 1, next: 'count-at-source' } },
    { why: 'a password', verdict: 'refuse', method: 'password', failures: 4, out: { failures: 5, next: 'count-at-source' } },
    { why: 'the last attempt allowed', verdict: 'refuse', method: 'publickey', failures: 5, out: { failures: 6, next: 'cut' } },
  ] as const)('after $why', ({ verdict, method, failures, out }) => {
    expect(afterAttempt(verdict, method, failures)).toEqual(out);
  });

  it('cuts a connection at its sixth refused attempt', () => {
    expect(MAX_ATTEMPTS).toBe(6);
  });
});

describe('once logged in', () => {
  it.each([
    { open: 0, max: 1, full: false },
    { open: 9, max: 10, full: false },
    { open: 10, max: 10, full: true },
    { open: 11, max: 10, full: true },
  ])('$open sessions on a connection, at most $max: full $full', ({ open, max, full }) => {
    const refusal = connectionSessionsFull(open, max);
    if (!full) expect(refusal).toBeNull();
    else
      expect(refusal).toEqual({ reason: 'resource-shortage', text: `berth: at most ${max} sessions on one connection (ssh.max-sessions)` });
  });

  it('says why a user may open no more sessions, or channels this minute', () => {
    expect(userSessionsFull(50)).toEqual({
      reason: 'resource-shortage',
      text: 'berth: at most 50 sessions for one user (ssh.max-user-sessions)',
    });
    expect(channelRateRefusal('alice', 120)).toEqual({
      drop: { reason: 'channel-rate', message: 'ssh channel refused: too many channels opened a minute', fields: { user: 'alice' } },
      refusal: {
        reason: 'resource-shortage',
        text: 'berth: too many channels opened (at most 120 a minute, ssh.channel-rate); wait a little',
      },
    });
  });

  it.each([
    { name: 'tcpip-forward', out: 'remote-forward' },
    { name: 'cancel-tcpip-forward', out: 'remote-forward' },
    { name: 'streamlocal-forward@openssh.com', out: 'refuse' },
    { name: 'no-more-sessions@openssh.com', out: 'refuse' },
  ])('global request $name: $out', ({ name, out }) => {
    expect(globalRequest(name)).toBe(out);
  });

  it.each([
    { idle: 0, every: null },
    { idle: 5, every: 5000 },
    { idle: 30, every: 30_000 },
    { idle: 3600, every: 30_000 },
  ])('ssh.idle-timeout $idle s is checked every $every ms', ({ idle, every }) => {
    expect(idleCheckEveryMs(idle)).toBe(every);
  });

  it.each([
    { now: 59_999, last: 0, idle: 60, closes: false },
    { now: 60_000, last: 0, idle: 60, closes: true },
    { now: 100_000, last: 50_000, idle: 60, closes: false },
  ])('quiet from $last to $now ms with ssh.idle-timeout $idle s: closed $closes', ({ now, last, idle, closes }) => {
    expect(idleTooLong(now, last, idle)).toBe(closes);
  });
});
