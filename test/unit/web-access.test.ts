import { describe, expect, it } from 'vitest';
import { stripCookie } from '../../daemon/web/app-proxy.js';
import { BrowserSessions } from '../../daemon/web/browser-sessions.js';
import { landingPage, loginPage, replayPage, securityHeaders, terminalPage } from '../../daemon/web/pages.js';
import { readCookie } from '../../daemon/web/server.js';
import { clampSize } from '../../daemon/web/terminal.js';
import { parseListeningPorts } from '../../src/domain/listening-ports.js';
import { ownWebVm } from '../../src/services/access/web-access.js';
import { TicketBook, type WebIdentity } from '../../src/services/access/web-links.js';
import type { State } from '../../src/state/schema.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { checkPort, checkPublicUrl, cookieName, parseAppPath, parseTerminalPath, webPublicUrl } from '../../src/values/web-paths.js';

const ALICE: WebIdentity = { userId: 'u-alice', login: 'alice', role: 'user' };
const BOB: WebIdentity = { userId: 'u-bob', login: 'bob', role: 'user' };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('web.public-url and the web server’s paths', () => {
  it('takes an http(s) origin and nothing else', () => {
    expect(checkPublicUrl('https://berth.example.com/')).toBe('https://berth.example.com');
    expect(checkPublicUrl('http://127.0.0.1:8088')).toBe('http://127.0.0.1:8088');
    expect(checkPublicUrl('')).toBe('');
    for (const bad of [
      'ftp://x.example',
      'https://x.example/berth',
      'https://x.example/?a=1',
      'https://u:p@x.example',
      'berth.example.com',
    ]) {
      expect(() => checkPublicUrl(bad), bad).toThrow(/web.public-url/);
    }
    expect(() => CONFIG_KEYS['web.public-url'].parse('https://x.example/path')).toThrow();
    expect(webPublicUrl({ 'web.public-url': '', 'web.listen': '127.0.0.1:8088' })).toBe('http://127.0.0.1:8088');
  });

  it('names the cookie per berth home, __Host- prefixed for HTTPS', () => {
    expect(cookieName('https://b.example', 'abc123-def')).toBe('__Host-berth-abc123def');
    expect(cookieName('http://127.0.0.1:8088', 'abc123-def')).toBe('berth-abc123def');
  });

  it('reads only exact /vm/LOGIN/VM/PORT prefixes: no encoded names, dot segments or bad ports', () => {
    expect(parseAppPath('/vm/alice/main/8000/lab?x=1')).toEqual({
      login: 'alice',
      vm: 'main',
      port: 8000,
      prefix: '/vm/alice/main/8000',
      strip: false,
    });
    expect(parseAppPath('/app/alice/web/8080/')).toEqual({
      login: 'alice',
      vm: 'web',
      port: 8080,
      prefix: '/app/alice/web/8080',
      strip: true,
    });
    expect(parseAppPath('/vm/alice/main/8000')).toMatchObject({ port: 8000 });
    expect(parseAppPath('/vm/alice/main/8000?x')).toMatchObject({ port: 8000 });
    for (const bad of [
      '/vm/alice/main/80000/',
      '/vm/alice/main/0/',
      '/vm/alice/main/08000/',
      '/vm/al%69ce/main/8000/',
      '/vm/../bob/8000/',
      '/vm/alice/../8000/',
      '/vm/Alice/main/8000/',
      '/vm/alice/main/8000x/',
      '/vmx/alice/main/8000/',
      '/vm/alice/main',
    ]) {
      expect(parseAppPath(bad), bad).toBeNull();
    }
    expect(parseTerminalPath('/terminal/alice/main/ws')).toEqual({ login: 'alice', vm: 'main' });
    expect(parseTerminalPath('/terminal/alice/..')).toBeNull();
    expect(checkPort('8000')).toBe(8000);
    expect(() => checkPort('65536')).toThrow(/not a port/);
    expect(() => checkPort('80a')).toThrow(/not a port/);
  });
});

describe('one-time tickets', () => {
  it('are 32 random bytes, work once, and only for their user and VM', () => {
    const book = new TicketBook();
    const { token } = book.mint(ALICE, 'main', { kind: 'terminal' }, 10);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(book.spend(token)).toMatchObject({ who: ALICE, vm: 'main', target: { kind: 'terminal' } });
    expect(book.spend(token)).toBeNull();
    expect(book.size).toBe(0);
  });

  it('expire after their time, and a forged or malformed one is nothing', () => {
    const c = clock();
    const book = new TicketBook({ ttlMs: 60_000, now: c.now });
    const { token, expiresAt } = book.mint(ALICE, 'main', { kind: 'app', port: 8000 }, 10);
    expect(expiresAt).toBe(c.now() + 60_000);
    c.advance(60_001);
    expect(book.spend(token)).toBeNull();
    expect(book.spend('A'.repeat(43))).toBeNull();
    expect(book.spend('../../etc/passwd')).toBeNull();
    expect(book.spend('')).toBeNull();
  });

  it('are kept hashed: the book holds no token', () => {
    const book = new TicketBook();
    const { token } = book.mint(ALICE, 'main', { kind: 'terminal' }, 10);
    const held = JSON.stringify([...(book as unknown as { tickets: Map<string, unknown> }).tickets]);
    expect(held).not.toContain(token);
  });

  it('are given at most web.ticket-rate a minute per user (others unaffected), again after a minute', () => {
    const c = clock();
    const book = new TicketBook({ now: c.now });
    for (let i = 0; i < 3; i++) book.mint(ALICE, 'main', { kind: 'terminal' }, 3);
    expect(() => book.mint(ALICE, 'main', { kind: 'terminal' }, 3)).toThrow(/web.ticket-rate/);
    expect(() => book.mint(BOB, 'main', { kind: 'terminal' }, 3)).not.toThrow();
    c.advance(60_000);
    expect(() => book.mint(ALICE, 'main', { kind: 'terminal' }, 3)).not.toThrow();
  });
});

describe('browser sessions (the cookie)', () => {
  const limits = { idleSeconds: 1800, maxSeconds: 8 * 3600 };

  it('end unused for web.session-idle, and web.session-max after the link whatever the use', () => {
    const c = clock();
    const sessions = new BrowserSessions(c.now);
    const { token } = sessions.create(ALICE);
    c.advance(1799_000);
    expect(sessions.find(token, limits)?.who).toEqual(ALICE);
    c.advance(1799_000);
    expect(sessions.find(token, limits)).not.toBeNull();
    c.advance(1800_000);
    expect(sessions.find(token, limits)).toBeNull();
    const second = sessions.create(ALICE);
    for (let i = 0; i < 16; i++) {
      c.advance(1700_000);
      expect(sessions.find(second.token, limits)).not.toBeNull();
    }
    c.advance(1700_000);
    expect(sessions.find(second.token, limits)).toBeNull();
  });

  it('are bounded per user (the oldest goes) and dropped when access is withdrawn', () => {
    const c = clock();
    const sessions = new BrowserSessions(c.now);
    const first = sessions.create(ALICE);
    for (let i = 0; i < 20; i++) {
      c.advance(1000);
      sessions.create(ALICE);
    }
    expect(sessions.find(first.token, limits)).toBeNull();
    const bob = sessions.create(BOB);
    expect(sessions.drop((s) => (s.who.login === 'alice' ? 'revoked' : null))).toBe(20);
    expect(sessions.find(bob.token, limits)?.who).toEqual(BOB);
    expect(sessions.find(undefined, limits)).toBeNull();
    expect(sessions.find('x'.repeat(43), limits)).toBeNull();
  });

  it('are read from the Cookie header, and berth’s cookie is never passed to an app', () => {
    expect(readCookie('a=1; berth-x=tok; b=2', 'berth-x')).toBe('tok');
    expect(readCookie('berth-xy=tok', 'berth-x')).toBeUndefined();
    expect(readCookie(undefined, 'berth-x')).toBeUndefined();
    expect(stripCookie('a=1; berth-x=tok; b=2', 'berth-x')).toBe('a=1; b=2');
    expect(stripCookie('berth-x=tok', 'berth-x')).toBeNull();
    expect(stripCookie('berth-x=tok;berth-x=again; _xsrf=y', 'berth-x')).toBe('_xsrf=y');
  });
});

describe('who reaches a VM from a browser', () => {
  const state = {
    users: [
      { id: 'u-alice', login: 'alice', role: 'user', status: 'allowed', keys: [] },
      { id: 'u-bob', login: 'bob', role: 'user', status: 'revoked', keys: [] },
    ],
    vms: [
      { user: 'alice', name: 'main' },
      { user: 'bob', name: 'main' },
    ],
  } as unknown as State;

  it('the owner, still allowed, with the same role and person (id) only', () => {
    expect(ownWebVm(state, ALICE, 'alice', 'main')).toMatchObject({ user: 'alice' });
    expect(ownWebVm(state, ALICE, 'bob', 'main')).toBeNull();
    expect(ownWebVm(state, ALICE, 'alice', 'other')).toBeNull();
    expect(ownWebVm(state, BOB, 'bob', 'main')).toBeNull();
    expect(ownWebVm(state, { ...ALICE, role: 'admin' }, 'alice', 'main')).toBeNull();
    expect(ownWebVm(state, { ...ALICE, userId: 'u-someone-else' }, 'alice', 'main')).toBeNull();
  });
});

describe('the pages and the terminal', () => {
  it('carry a strict CSP: scripts from berth only, no inline script, styles only with the nonce', () => {
    const csp = securityHeaders('N0nce')['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(csp).toContain("style-src-elem 'self' 'nonce-N0nce'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
  });

  it('let only the replay page compile WebAssembly (its player), with no inline script and the recording escaped', () => {
    for (const page of [landingPage(), loginPage(), terminalPage('alice', 'main')])
      expect(page.headers['content-security-policy']).not.toContain('wasm');
    const replay = replayPage('0123456789ab', { login: 'alice', vm: 'alice/<main>', startedAt: '2026-01-02T03:04:05.000Z', via: 'ssh' });
    const csp = replay.headers['content-security-policy'] ?? '';
    expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
    expect(csp).not.toContain("'unsafe-eval'");
    expect(replay.body).toContain('data-cast="/replay/0123456789ab/cast"');
    expect(replay.body).toContain('alice/&lt;main&gt; — 2026-01-02 03:04:05 UTC (ssh)');
    expect(replay.body).not.toMatch(/<script>/);
  });

  it('keeps sizes within bounds', () => {
    expect(clampSize(100000, 0)).toEqual({ cols: 500, rows: 24 });
    expect(clampSize(Number.NaN, 5000)).toEqual({ cols: 80, rows: 200 });
  });
});

describe('listening ports in a VM', () => {
  it('come from /proc/net/tcp{,6}: LISTEN only, each once, loopback-only ones marked', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1',
      '   1: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1',
      '   2: 0200A8C0:1F40 0100A8C0:D431 01 00000000:00000000 00:00000000 00000000  1000        0 3 1',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st',
      '   0: 00000000000000000000000000000000:22B8 00000000000000000000000000000000:0000 0A',
      '   1: 00000000000000000000000001000000:0BB9 00000000000000000000000000000000:0000 0A',
      '   2: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A',
    ].join('\n');
    expect(parseListeningPorts(`${tcp}\n${tcp6}`)).toEqual([
      { port: 3000, loopbackOnly: true },
      { port: 3001, loopbackOnly: true },
      { port: 8000, loopbackOnly: false },
      { port: 8888, loopbackOnly: false },
    ]);
  });
});
