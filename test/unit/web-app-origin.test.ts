import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AppTickets, appHeaderDropped, fetchesServiceWorker, ORIGIN_WIDE_HEADERS, readCookies } from '../../daemon/web/app-origin.js';
import { stripCookie } from '../../daemon/web/app-proxy.js';
import { BrowserSessions } from '../../daemon/web/browser-sessions.js';
import { BerthError } from '../../src/errors.js';
import { originMayChangeApp, resolveAppHost } from '../../src/services/access/web-access.js';
import { appAddress, TicketBook, targetPath, type WebIdentity } from '../../src/services/access/web-links.js';
import type { State } from '../../src/state/schema.js';
import { CONFIG_KEYS, effectiveConfig } from '../../src/values/config-keys.js';
import {
  type AppRequestPath,
  appCookieName,
  appHostLabel,
  appLabelCandidates,
  appOrigin,
  appsHostLabel,
  checkAppsDomain,
  hostName,
  sameHostPath,
} from '../../src/values/web-paths.js';

const ALICE: WebIdentity = { userId: 'u-alice', login: 'alice', role: 'user' };
const APP = { host: '8080--main--alice', login: 'alice', vm: 'main', port: 8080 };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const stateWith = (vms: Array<[string, string]>) =>
  ({ vms: vms.map(([user, name]) => ({ user, name })), users: [], config: {} }) as unknown as State;

describe('who may send an app requests that change things', () => {
  it('its owner’s app origins and non-browsers; never another user’s app, berth’s origin, null or another site', () => {
    const state = {
      vms: [
        { user: 'alice', name: 'main' },
        { user: 'bob', name: 'main' },
      ],
      users: [],
      config: { 'web.apps-domain': 'apps.example.com' },
    } as unknown as State;
    const url = 'https://berth.example.com';
    const table: Array<[string | undefined, boolean]> = [
      [undefined, true],
      ['https://8080--main--alice.apps.example.com', true],
      ['https://3000--main--alice.apps.example.com', true],
      ['https://8080--main--bob.apps.example.com', false],
      ['http://8080--main--alice.apps.example.com', false],
      ['https://8080--main--alice.apps.example.com:444', false],
      ['https://8080--main--nobody.apps.example.com', false],
      ['https://berth.example.com', false],
      ['null', false],
      ['https://evil.example', false],
      ['not a url', false],
    ];
    for (const [origin, may] of table) expect(originMayChangeApp(state, url, origin, 'alice'), String(origin)).toBe(may);
  });
});

describe('web.apps-domain and app host names', () => {
  it('takes a DNS name (lower-cased), or empty; refuses addresses, URLs and bad labels', () => {
    expect(checkAppsDomain('Apps.Example.com.')).toBe('apps.example.com');
    expect(checkAppsDomain('localhost')).toBe('localhost');
    expect(checkAppsDomain(' ')).toBe('');
    for (const bad of [
      'https://apps.example.com',
      '10.0.0.1',
      '*.apps.example.com',
      'apps..example.com',
      '-apps.example.com',
      'a_b.example',
    ]) {
      expect(() => checkAppsDomain(bad), bad).toThrow(/web.apps-domain/);
    }
    expect(CONFIG_KEYS['web.path-apps'].default).toBe(false);
    expect(CONFIG_KEYS['web.apps-domain'].default).toBe('');
  });

  it('gives each VM port an origin with berth’s scheme and port: PORT--VM--LOGIN.DOMAIN', () => {
    expect(appOrigin('https://berth.example.com', 'apps.example.com', 'alice', 'main', 8080)).toBe(
      'https://8080--main--alice.apps.example.com',
    );
    expect(appOrigin('http://127.0.0.1:8090', 'localhost', 'alice', 'main', 8080)).toBe('http://8080--main--alice.localhost:8090');
    expect(appCookieName('https://b.example', 'abc-123')).toBe('__Host-berth-app-abc123');
    expect(appCookieName('http://127.0.0.1:1', 'abc-123')).toBe('berth-app-abc123');
  });

  it('says clearly when a label would pass 63 characters', () => {
    const vm = `v${'x'.repeat(31)}`;
    const login = `l${'y'.repeat(31)}`;
    let caught: unknown;
    try {
      appHostLabel(login, vm, 65535);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BerthError);
    expect((caught as BerthError).code).toBe('WEB_APP_HOST_TOO_LONG');
    expect((caught as BerthError).message).toContain('at most 63');
    expect((caught as BerthError).hint).toContain('shorter');
    // The link builder says the same (no ticket is minted for it).
    const cfg = effectiveConfig({ 'web.apps-domain': 'apps.example.com' } as never);
    expect(() => appAddress(cfg, login, vm, 65535)).toThrow(/at most 63/);
  });

  it('reads a Host header: under the apps domain an app’s label (or "" for none), else null', () => {
    expect(hostName('8080--main--alice.localhost:8090')).toBe('8080--main--alice.localhost');
    expect(hostName('[::1]:80')).toBe('[::1]');
    expect(hostName('Berth.Example.com.')).toBe('berth.example.com');
    expect(appsHostLabel('8080--main--alice.apps.example.com', 'apps.example.com')).toBe('8080--main--alice');
    expect(appsHostLabel('apps.example.com', 'apps.example.com')).toBe('');
    expect(appsHostLabel('a.b.apps.example.com', 'apps.example.com')).toBe('');
    expect(appsHostLabel('berth.example.com', 'apps.example.com')).toBeNull();
    expect(appsHostLabel('evilapps.example.com', 'apps.example.com')).toBeNull();
    expect(appsHostLabel('anything', '')).toBeNull();
  });

  it('resolves a label whose login or VM holds "--" by the state, and refuses one two VMs could claim', () => {
    expect(appLabelCandidates('8080--a--b--cc')).toEqual([
      { login: 'b--cc', vm: 'a', port: 8080 },
      { login: 'cc', vm: 'a--b', port: 8080 },
    ]);
    expect(appLabelCandidates('0--main--alice')).toEqual([]);
    expect(appLabelCandidates('70000--main--alice')).toEqual([]);
    expect(resolveAppHost(stateWith([['b--cc', 'a']]), '8080--a--b--cc')).toEqual({ login: 'b--cc', vm: 'a', port: 8080 });
    expect(resolveAppHost(stateWith([['cc', 'a--b']]), '8080--a--b--cc')).toEqual({ login: 'cc', vm: 'a--b', port: 8080 });
    expect(resolveAppHost(stateWith([['cc', 'a--b']]), '8080--a--b--cc')).not.toBe('ambiguous');
    expect(
      resolveAppHost(
        stateWith([
          ['b--cc', 'a'],
          ['cc', 'a--b'],
        ]),
        '8080--a--b--cc',
      ),
    ).toBe('ambiguous');
    expect(resolveAppHost(stateWith([['cc', 'a']]), '8080--a--b--cc')).toBeNull();
  });

  it('sends a browser on to paths of the same host only', () => {
    expect(sameHostPath('/a/b?c=1#d')).toBe('/a/b?c=1#d');
    for (const bad of [
      '//evil.example/',
      '/\\evil.example',
      'https://evil.example/',
      'evil',
      '/a\nb',
      '/__berth/enter?ticket=x',
      42,
      '/a b',
    ]) {
      expect(sameHostPath(bad), String(bad)).toBe('/');
    }
  });

  it('lands an app link on the exchange with an apps domain, on its path with path apps, and is refused with neither', () => {
    const app = { kind: 'app' as const, port: 8080 };
    expect(targetPath('alice', 'main', app, { appsDomain: 'localhost', pathApps: true })).toBe('/apps/alice/main/8080');
    expect(targetPath('alice', 'main', app, { appsDomain: '', pathApps: true })).toBe('/vm/alice/main/8080/');
    expect(targetPath('alice', 'main', { kind: 'terminal' }, { appsDomain: '', pathApps: false })).toBe('/terminal/alice/main');
    expect(() => targetPath('alice', 'main', app, { appsDomain: '', pathApps: false })).toThrow(/serves no web apps/);
  });
});

describe('the exchange and the app cookie', () => {
  it('an app ticket works once, within its time, on the one app host it was made for', () => {
    const c = clock();
    const book = new AppTickets(c.now);
    const one = book.mint(ALICE, APP);
    expect(book.spend(one, '8081--main--alice')).toBeNull();
    expect(book.spend(one, APP.host)).toBeNull();
    const two = book.mint(ALICE, APP);
    expect(book.spend(two, APP.host)).toMatchObject({ who: ALICE, app: APP });
    expect(book.spend(two, APP.host)).toBeNull();
    const three = book.mint(ALICE, APP);
    c.advance(30_001);
    expect(book.spend(three, APP.host)).toBeNull();
    expect(book.spend('not-a-ticket', APP.host)).toBeNull();
  });

  it('holds a user to a bounded number of unspent app tickets and app cookie sessions', () => {
    const book = new AppTickets();
    const first = book.mint(ALICE, APP);
    for (let i = 0; i < 60; i++) book.mint(ALICE, APP);
    expect(book.size).toBe(50);
    expect(book.spend(first, APP.host)).toBeNull();
    const sessions = new BrowserSessions(Date.now, { perUser: 3, max: 10 });
    for (let i = 0; i < 5; i++) sessions.create(ALICE, APP);
    expect(sessions.size).toBe(3);
  });

  it('a landing ticket can be looked at without being spent', () => {
    const book = new TicketBook();
    const { token } = book.mint(ALICE, 'main', { kind: 'terminal' }, 10);
    expect(book.peek(token)).toMatchObject({ who: ALICE });
    expect(book.peek(token)).toMatchObject({ who: ALICE });
    expect(book.spend(token)).toMatchObject({ who: ALICE });
    expect(book.peek(token)).toBeNull();
  });

  it('reads every value of a cookie, and strips berth’s and the app cookie from what reaches the app', () => {
    expect(readCookies('a=1; berth-app-x=T1; b=2; berth-app-x=T2', 'berth-app-x')).toEqual(['T1', 'T2']);
    expect(stripCookie('a=1; berth-app-x=T1; berth-x=S; b=2', ['berth-x', 'berth-app-x'])).toBe('a=1; b=2');
    expect(stripCookie('berth-app-x=T1', ['berth-x', 'berth-app-x'])).toBeNull();
  });
});

describe('what an app may answer', () => {
  const pathApp: AppRequestPath = { login: 'alice', vm: 'main', port: 8080, prefix: '/vm/alice/main/8080', strip: false };
  const ownOrigin: AppRequestPath = { ...pathApp, prefix: '', host: APP.host, origin: 'http://8080--main--alice.localhost' };
  const names = ['berth-x', 'berth-app-x'];

  it('on berth’s origin (path apps), no header that acts on the whole origin', () => {
    for (const h of [
      'Service-Worker-Allowed',
      'Clear-Site-Data',
      'Strict-Transport-Security',
      'Alt-Svc',
      'NEL',
      'Report-To',
      'Reporting-Endpoints',
      'Origin-Agent-Cluster',
      'Set-Login',
    ]) {
      expect(ORIGIN_WIDE_HEADERS.has(h.toLowerCase()), h).toBe(true);
      expect(appHeaderDropped(pathApp, h, 'x', names), h).toBe(true);
      expect(appHeaderDropped(ownOrigin, h, 'x', names), h).toBe(false);
    }
    expect(appHeaderDropped(pathApp, 'Content-Type', 'text/html', names)).toBe(false);
  });

  it('never a Set-Cookie of berth’s cookie or the app cookie, on either kind of origin', () => {
    for (const path of [pathApp, ownOrigin]) {
      expect(appHeaderDropped(path, 'Set-Cookie', 'berth-x=1; Path=/', names)).toBe(true);
      expect(appHeaderDropped(path, 'set-cookie', ' berth-app-x=1', names)).toBe(true);
      // A nameless cookie whose value reads as one of them comes back from the browser as that cookie.
      expect(appHeaderDropped(path, 'Set-Cookie', '=berth-app-x=1; Path=/', names)).toBe(true);
      expect(appHeaderDropped(path, 'Set-Cookie', 'app=1; Path=/', names)).toBe(false);
    }
  });

  it('knows a Service Worker script’s request', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    expect(fetchesServiceWorker(req({ 'service-worker': 'script' }))).toBe(true);
    expect(fetchesServiceWorker(req({ 'sec-fetch-dest': 'serviceworker' }))).toBe(true);
    expect(fetchesServiceWorker(req({ 'sec-fetch-dest': 'document' }))).toBe(false);
  });
});
