import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { appCookieName, cookieName } from '../../src/values/web-paths.js';
import { WebLinkSchema } from '../../src/views/web-view.js';
import { berth, berthJson, freePort, ROOT } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';
import { debianImage } from '../helpers/images.js';
import { newVmUser } from '../helpers/vm-user.js';

// Users' web apps on origins of their own (web.apps-domain localhost: *.localhost needs no DNS),
// in a real browser: Debian's Chromium, headless, its *.localhost names mapped to 127.0.0.1 only.
// Bob is hostile: his app records every request it gets, and its page tries to register a
// Service Worker over berth's origin and to read and set berth's cookie.

const PORT = 8080;
const OTHER_PORT = 8081;

let h: VmHome;
let browser: Browser;
let webPort: number;
let publicUrl: string;
let alice: string;
let bob: string;
let berthCookie: string;
let appCookie: string;

const run = (args: string[], input?: string) => berth(h.home, args, { ...(input === undefined ? {} : { input }) });
const appHost = (login: string, port = PORT) => `${port}--main--${login}.localhost:${webPort}`;
const appUrl = (login: string, port = PORT) => `http://${appHost(login, port)}`;
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every link this file was given: no app may ever see one, nor the daemon log. */
const minted: string[] = [];

async function link(args: string[]) {
  const given = WebLinkSchema.parse(await berthJson(h.home, args));
  minted.push(given.url.slice(given.url.indexOf('#') + 1));
  return given;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request to the web server with the Host header given, as any client (or a hostile one)
 * can send it; from 127.0.0.3, so that its ticket posts count apart from the browser's (127.0.0.1).
 */
function raw(
  host: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        localAddress: '127.0.0.3',
        port: webPort,
        path,
        method: options.method ?? 'GET',
        headers: { host, ...options.headers },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket upgrade with the Host, Origin and cookie given: its HTTP status, or 101. */
function upgrade(host: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${webPort}${path}`, { headers: { host, ...headers }, handshakeTimeout: 10_000 });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', reject);
  });
}

interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** The requests an app was sent, from its own log in the VM. */
async function requestsOf(login: string, port = PORT): Promise<Recorded[]> {
  const r = await run(['vm', 'exec', login, '--', 'sh', '-c', `cat /tmp/requests-${port}.log 2>/dev/null || true`]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Recorded);
}

const header = (r: Recorded, name: string) => Object.entries(r.headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

const newUser = (prefix: string, image: string) => newVmUser(h.home, prefix, image);

async function startApps(login: string, ports: number[]): Promise<void> {
  const app = await readFile(join(ROOT, 'test', 'fixtures', 'recording-app.py'), 'utf8');
  const put = await run(['vm', 'exec', '-i', login, '--', 'sh', '-c', 'cat > recording-app.py'], app);
  expect(put.code, put.stderr).toBe(0);
  const start = ports
    .map(
      (p) =>
        `setsid python3 recording-app.py ${p} /tmp/requests-${p}.log ${publicUrl} ${berthCookie} ${appCookie} >/tmp/app-${p}.out 2>&1 </dev/null &`,
    )
    .join(' ');
  expect((await run(['vm', 'exec', login, '--', 'sh', '-c', start])).code).toBe(0);
  const listening = ports.map((p) => `grep -q ':${p.toString(16).toUpperCase()} .* 0A' /proc/net/tcp`).join(' && ');
  await waitFor(`${login}'s apps to listen`, async () => (await run(['vm', 'exec', login, '--', 'sh', '-c', listening])).code === 0);
}

/** Opens a link in `context`: a new page, once it is at `lands`. */
async function open(context: BrowserContext, url: string, lands: RegExp): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForURL(lands, { timeout: 20_000 });
  return page;
}

async function echoed(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('out')?.textContent === 'echo: hello through berth', null, { timeout: 20_000 });
}

async function terminalSays(page: Page, command: string, what: RegExp): Promise<void> {
  await page.waitForFunction(
    () => (window as unknown as { berth?: { socket(): { readyState: number } | null } }).berth?.socket()?.readyState === 1,
    null,
    { timeout: 20_000 },
  );
  await page.click('#terminal');
  await page.keyboard.type(`${command}\n`);
  await waitFor(`${what} in the terminal`, async () =>
    what.test(
      await page.evaluate(() => {
        type Buffer = { length: number; getLine(i: number): { translateToString(t: boolean): string } | undefined };
        const b = (window as unknown as { berth: { terminal: { buffer: { active: Buffer } } } }).berth.terminal.buffer.active;
        return Array.from({ length: b.length }, (_, i) => b.getLine(i)?.translateToString(true) ?? '').join('\n');
      }),
    ),
  );
}

/** The berth cookie of a context, as a Cookie header. */
const berthCookieOf = async (context: BrowserContext) =>
  (await context.cookies(publicUrl))
    .filter((c) => c.name === berthCookie)
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');

/** A real exchange's step on the app host, asked with a berth cookie: where berth sends the browser. */
async function enterUrl(cookie: string, login: string, port = PORT, to = '/'): Promise<Answer> {
  return raw(new URL(publicUrl).host, `/apps/${login}/main/${port}`, {
    method: 'POST',
    headers: { cookie, origin: publicUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ to }),
  });
}

/** The exchange's last step as berth's entry page takes it: a form post to the app host, with berth's Origin. */
const enter = (host: string, path: string, origin = publicUrl) => raw(host, path, { method: 'POST', headers: { origin } });

beforeAll(async () => {
  h = await vmHome();
  webPort = await freePort();
  publicUrl = `http://127.0.0.1:${webPort}`;
  // Two free ports asked in a row may be the same one: the gateway's must differ from the web server's.
  let sshPort = await freePort();
  while (sshPort === webPort) sshPort = await freePort();
  for (const args of [
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
    ['config', 'set', 'web.public-url', publicUrl],
    ['config', 'set', 'web.apps-domain', 'localhost'],
    ['config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`],
  ]) {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
  }
  berthCookie = cookieName(publicUrl, h.instanceId);
  appCookie = appCookieName(publicUrl, h.instanceId);
  const image = await debianImage(h.home);
  alice = await newUser('oa', image);
  bob = await newUser('ob', image);
  await startApps(alice, [PORT, OTHER_PORT]);
  await startApps(bob, [PORT]);
  const start = await run(['daemon', 'start']);
  expect(start.code, start.stderr).toBe(0);
  const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
  expect(
    status.components.find((c: { name: string }) => c.name === 'web'),
    await daemonLog(h.home),
  ).toMatchObject({ state: 'running' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
  });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('a hostile user’s app link, then the user’s own link', () => {
  let context: BrowserContext;

  beforeAll(async () => {
    context = await browser.newContext();
  });

  it('alice opens bob’s app link: his app on its own origin, at /, through berth’s login and the exchange', async () => {
    const given = await link(['vm', 'url', bob, String(PORT)]);
    expect(given.app).toBe(`${appUrl(bob)}/`);
    expect(given.path).toBe(`/apps/${bob}/main/${PORT}`);
    expect(given.url.startsWith(`${publicUrl}/t#`)).toBe(true);
    const page = await open(context, given.url, new RegExp(`^${literal(appUrl(bob))}/$`));
    await echoed(page);
    await page.waitForFunction(
      () => document.getElementById('remote-sw')?.textContent && document.getElementById('sw')?.textContent,
      null,
      {
        timeout: 20_000,
      },
    );
    // On its own origin it may do as it likes; on berth's, the browser lets it do nothing.
    expect(await page.textContent('#sw')).toBe('own origin: registered');
    expect(await page.textContent('#remote-sw')).not.toContain('registered');
    // It sees no cookie of berth's: not berth's (another host), not its app cookie (HttpOnly).
    expect(await page.textContent('#cookie')).toBe(`cookie:  href: ${appUrl(bob)}/`);
    const appCookies = await context.cookies(appUrl(bob));
    expect(appCookies.find((c) => c.name === appCookie)).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(appCookies.find((c) => c.name === appCookie)?.domain).toBe(`${PORT}--main--${bob}.localhost`);
  });

  it('then her own terminal link: she is asked before the browser switches from bob to her; then her shell works', async () => {
    const before = await context.cookies(publicUrl);
    expect(before.filter((c) => c.name === berthCookie)).toHaveLength(1);
    const given = await link(['vm', 'web-terminal', alice]);
    const page = await context.newPage();
    await page.goto(given.url);
    await page.waitForFunction(() => !(document.getElementById('switch') as HTMLElement).hidden, null, { timeout: 20_000 });
    expect(await page.textContent('#status')).toBe(`This browser is signed in as ${bob}; continue as ${alice}?`);
    expect(await page.textContent('#continue')).toBe(`Continue as ${alice}`);
    expect(page.url()).toBe(`${publicUrl}/t`);
    // Nothing switched behind her back: still bob's cookie.
    expect(await context.cookies(publicUrl)).toEqual(before);
    await page.click('#continue');
    await page.waitForURL(new RegExp(`/terminal/${alice}/main$`), { timeout: 20_000 });
    await terminalSays(page, 'id -un', new RegExp(`^${alice}$`, 'm'));
    const after = (await context.cookies(publicUrl)).filter((c) => c.name === berthCookie);
    expect(after).toHaveLength(1);
    expect(after[0]?.value).not.toBe(before.find((c) => c.name === berthCookie)?.value);
    // No Service Worker controls berth's origin: not this page, none registered there.
    expect(await page.evaluate(() => navigator.serviceWorker.controller === null)).toBe(true);
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
    expect(context.serviceWorkers().map((w) => new URL(w.url()).origin)).not.toContain(publicUrl);
    // berth's cookie is berth's: HttpOnly, not the value bob's page tried to write.
    expect(after[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(after[0]?.value).not.toBe('from-bobs-page');
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('a link of the browser’s own user just opens', async () => {
    const page = await open(context, (await link(['vm', 'web-terminal', alice])).url, new RegExp(`/terminal/${alice}/main$`));
    await terminalSays(page, 'echo same-$((6*7))', /^same-42$/m);
  });

  it('bob’s app got nothing of hers: no berth cookie, no ticket; only ever on its own host', async () => {
    const seen = await requestsOf(bob);
    expect(seen.length).toBeGreaterThan(0);
    const text = JSON.stringify(seen);
    for (const ticket of minted) expect(text).not.toContain(ticket);
    expect(text).not.toContain(berthCookie);
    expect(text).not.toContain(appCookie);
    for (const c of await context.cookies([publicUrl, appUrl(bob)])) {
      if (c.name === berthCookie || c.name === appCookie) expect(text).not.toContain(c.value);
    }
    for (const r of seen) {
      expect(header(r, 'x-forwarded-host')).toBe(appHost(bob));
      expect(r.path.startsWith('/__berth/')).toBe(false);
    }
    // berth's origin never served his content: its pages are berth's, his paths there are not his.
    const page = await context.newPage();
    await page.goto(`${publicUrl}/`);
    expect(await page.textContent('main')).toContain('needs a link from berth');
    const answer = await page.goto(`${publicUrl}/vm/${bob}/main/${PORT}/`);
    expect(answer?.status()).toBe(404);
    expect(await page.textContent('main')).toContain('web.path-apps is off');
    expect(await page.content()).not.toContain('served by bob');
  });
});

describe('an app on its own origin', () => {
  let aliceContext: BrowserContext;
  let bobContext: BrowserContext;
  let app: Page;

  beforeAll(async () => {
    aliceContext = await browser.newContext();
    bobContext = await browser.newContext();
    app = await open(aliceContext, (await link(['vm', 'url', alice, String(PORT)])).url, new RegExp(`^${literal(appUrl(alice))}/$`));
    await open(bobContext, (await link(['vm', 'web-terminal', bob])).url, new RegExp(`/terminal/${bob}/main$`));
  });

  it('is served at / with no prefix, its WebSocket too', async () => {
    await echoed(app);
    const said = await app.evaluate(async () => (await fetch('/path?x=1')).text());
    expect(said).toBe('path: /path?x=1 prefix: (none)');
  });

  it('sends a request without the app cookie through the exchange on berth’s origin, and back to the path asked for', async () => {
    const bare = await raw(appHost(alice), '/some/where?q=1');
    expect(bare.status).toBe(302);
    expect(bare.headers.location).toBe(`${publicUrl}/apps/${alice}/main/${PORT}?to=${encodeURIComponent('/some/where?q=1')}`);
    // In her browser, a path of her app she has no cookie for yet (another port) lands there after the exchange.
    const other = await open(
      aliceContext,
      `${appUrl(alice, OTHER_PORT)}/path?y=2`,
      new RegExp(`^${literal(appUrl(alice, OTHER_PORT))}/path`),
    );
    expect(await other.textContent('body')).toBe('path: /path?y=2 prefix: (none)');
    // A browser with no berth session is told to open a link; it gets no app cookie.
    const stranger = await browser.newContext();
    try {
      const p = await stranger.newPage();
      await p.goto(`${appUrl(alice)}/`);
      await p.waitForFunction(() => !(document.getElementById('hint') as HTMLElement).hidden, null, { timeout: 20_000 });
      expect(p.url()).toBe(`${publicUrl}/apps/${alice}/main/${PORT}?to=%2F`);
      expect(await p.textContent('#status')).toContain('not signed in as this app');
      expect(await stranger.cookies(appUrl(alice))).toEqual([]);
    } finally {
      await stranger.close();
    }
  });

  it('bob’s berth cookie gets no app cookie for alice’s app host', async () => {
    const p = await bobContext.newPage();
    await p.goto(`${appUrl(alice)}/`);
    await p.waitForFunction(() => !(document.getElementById('hint') as HTMLElement).hidden, null, { timeout: 20_000 });
    expect(await p.textContent('#status')).toContain('not signed in as this app');
    expect(await bobContext.cookies(appUrl(alice))).toEqual([]);
    const asked = await enterUrl(await berthCookieOf(bobContext), alice);
    expect(asked.status).toBe(401);
    expect(asked.body).not.toContain('ticket');
    // Without berth's Origin, not even alice's own cookie gets one.
    const cross = await raw(new URL(publicUrl).host, `/apps/${alice}/main/${PORT}`, {
      method: 'POST',
      headers: { cookie: await berthCookieOf(aliceContext), origin: appUrl(alice), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(cross.status).toBe(403);
  });

  it('refuses a forged exchange ticket, a replayed one, and one made for another app host', async () => {
    const cookie = await berthCookieOf(aliceContext);
    const pathOf = (answer: Answer) => {
      expect(answer.status, answer.body).toBe(200);
      const location = JSON.parse(answer.body).location as string;
      expect(location.startsWith(`${appUrl(alice)}/__berth/enter?ticket=`)).toBe(true);
      return location.slice(appUrl(alice).length);
    };
    const forged = await enter(appHost(alice), `/__berth/enter?ticket=${randomBytes(32).toString('base64url')}&to=/`);
    expect(forged.status).toBe(410);
    expect(forged.headers['set-cookie']).toBeUndefined();
    // Made for alice's port 8080: refused on her port 8081 and on bob's app host, and then spent.
    const elsewhere = pathOf(await enterUrl(cookie, alice));
    expect((await enter(appHost(alice, OTHER_PORT), elsewhere)).status).toBe(410);
    expect((await enter(appHost(alice), elsewhere)).status).toBe(410);
    const onBob = pathOf(await enterUrl(cookie, alice));
    const bobs = await enter(appHost(bob), onBob);
    expect(bobs.status).toBe(410);
    expect(bobs.headers['set-cookie']).toBeUndefined();
    // The right host: once, to the path asked for (this host's only), then never again.
    const good = pathOf(await enterUrl(cookie, alice, PORT, '//evil.example/x'));
    // Not taken as a link (GET) or from any page but berth's (another Origin, or none): a ticket
    // alice was given cannot be sent to someone else's browser. Refused without spending it.
    for (const [method, origin] of [
      ['GET', undefined],
      ['POST', appUrl(bob)],
      ['POST', 'null'],
      ['POST', undefined],
    ] as const) {
      const tried = await raw(appHost(alice), good, { method, headers: origin ? { origin } : {} });
      expect(tried.status, `${method} from ${origin}`).toBe(403);
      expect(tried.headers['set-cookie']).toBeUndefined();
    }
    const spent = await enter(appHost(alice), good);
    expect(spent.status).toBe(303);
    expect(spent.headers.location).toBe('/');
    const set = spent.headers['set-cookie']?.[0] ?? '';
    expect(set).toMatch(new RegExp(`^${appCookie}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax; Max-Age=\\d+$`));
    expect((await enter(appHost(alice), good)).status).toBe(410);
    // The app cookie is for that host only: another app host sends the browser to the exchange.
    const token = set.slice(0, set.indexOf(';'));
    expect((await raw(appHost(alice), '/cookies', { headers: { cookie: `${token}; app=1; ${berthCookie}=x` } })).body).toBe(
      'cookies: app=1',
    );
    expect((await raw(appHost(alice, OTHER_PORT), '/cookies', { headers: { cookie: token } })).status).toBe(302);
    // App hosts share a site, so alice's app cookie goes with a post from a page of bob's app in
    // her browser: such a post (another owner's Origin, or none a browser names) never reaches her app.
    for (const origin of [appUrl(bob), publicUrl, 'null', 'http://evil.example']) {
      const posted = await raw(appHost(alice), '/form', { method: 'POST', headers: { cookie: token, origin }, body: 'x=1' });
      expect(posted.status, origin).toBe(403);
    }
    // Her own origins may (a front end on one port, its API on another), as may a client that is no browser.
    for (const origin of [appUrl(alice), appUrl(alice, OTHER_PORT), undefined]) {
      const posted = await raw(appHost(alice), '/form', {
        method: 'POST',
        headers: { cookie: token, ...(origin ? { origin } : {}) },
        body: 'x=1',
      });
      expect(posted.status, String(origin)).not.toBe(403);
    }
  });

  it('the app never sees the app cookie or berth’s, and cannot set either', async () => {
    const before = (await aliceContext.cookies(appUrl(alice))).find((c) => c.name === appCookie);
    expect(before).toBeDefined();
    expect(await app.evaluate(async () => (await fetch('/setcookie')).text())).toBe('set');
    const seen = await app.evaluate(async () => (await fetch('/cookies')).text());
    expect(seen).toContain('app=1');
    expect(seen).not.toContain(appCookie);
    expect(seen).not.toContain(berthCookie);
    expect((await aliceContext.cookies(appUrl(alice))).find((c) => c.name === appCookie)?.value).toBe(before?.value);
    expect(await app.evaluate(() => document.cookie)).not.toContain(appCookie);
    const text = JSON.stringify(await requestsOf(alice));
    expect(text).not.toContain(appCookie);
    expect(text).not.toContain(before?.value ?? 'never');
  });

  it('serves none of berth’s pages on an app host: no landing post, no terminal, nothing on the bare apps domain', async () => {
    const cookie =
      (await aliceContext.cookies(appUrl(alice))).filter((c) => c.name === appCookie).map((c) => `${c.name}=${c.value}`)[0] ?? '';
    const ticket = (await link(['vm', 'web-terminal', alice])).url.split('#')[1] ?? '';
    const post = await raw(appHost(alice), '/t', {
      method: 'POST',
      headers: { origin: appUrl(alice), 'content-type': 'application/json' },
      body: JSON.stringify({ ticket }),
    });
    expect(post.status).toBe(401);
    expect(post.headers['set-cookie']).toBeUndefined();
    // The ticket is still good on berth's own origin: the app host never looked at it.
    const landing = await raw(new URL(publicUrl).host, '/t', {
      method: 'POST',
      headers: { origin: publicUrl, 'content-type': 'application/json' },
      body: JSON.stringify({ ticket }),
    });
    expect(landing.status).toBe(200);
    const terminal = await raw(appHost(alice), `/terminal/${alice}/main`, { headers: { cookie } });
    expect(terminal.body).toBe(`the app has no /terminal/${alice}/main`);
    expect((await raw(appHost(alice), '/assets/landing.js', { headers: { cookie } })).body).toBe('the app has no /assets/landing.js');
    for (const host of [`localhost:${webPort}`, `a.${appHost(alice)}`, `1--nobody--here.localhost:${webPort}`]) {
      const none = await raw(host, '/');
      expect(none.status, host).toBe(404);
      expect(none.body).toContain('There is no web app at this address');
    }
  });

  it('takes an app WebSocket from the app’s own origin only', async () => {
    const cookie =
      (await aliceContext.cookies(appUrl(alice))).filter((c) => c.name === appCookie).map((c) => `${c.name}=${c.value}`)[0] ?? '';
    expect(await upgrade(appHost(alice), '/echo', { origin: publicUrl, cookie })).toBe(403);
    expect(await upgrade(appHost(alice), '/echo', { origin: appUrl(bob), cookie })).toBe(403);
    expect(await upgrade(appHost(alice), '/echo', { origin: appUrl(alice) })).toBe(401);
    expect(await upgrade(appHost(alice), '/echo', { origin: appUrl(alice), cookie })).toBe(101);
  });

  it('ends the app cookie when the VM’s owner is revoked', async () => {
    const cookie =
      (await aliceContext.cookies(appUrl(alice))).filter((c) => c.name === appCookie).map((c) => `${c.name}=${c.value}`)[0] ?? '';
    expect((await raw(appHost(alice), '/cookies', { headers: { cookie } })).status).toBe(200);
    expect((await run(['user', 'revoke', alice, '--keep-running'])).code).toBe(0);
    try {
      await waitFor(
        'alice’s app cookie to be refused',
        async () => (await raw(appHost(alice), '/cookies', { headers: { cookie } })).status === 302,
      );
      // Allowed again, the old cookie stays worthless: a new link is needed.
      expect((await run(['user', 'allow', alice])).code).toBe(0);
      expect((await raw(appHost(alice), '/cookies', { headers: { cookie } })).status).toBe(302);
    } finally {
      await run(['user', 'allow', alice]);
    }
  });
});

describe('path apps (web.path-apps)', () => {
  let context: BrowserContext;

  beforeAll(async () => {
    context = await browser.newContext();
    await open(context, (await link(['vm', 'web-terminal', alice])).url, new RegExp(`/terminal/${alice}/main$`));
  });

  it('are off by default: /vm/… and /app/… say so, and where the app is now', async () => {
    const cookie = await berthCookieOf(context);
    const before = (await requestsOf(alice)).length;
    for (const path of [`/vm/${alice}/main/${PORT}/`, `/app/${alice}/main/${PORT}/path`]) {
      const answer = await raw(new URL(publicUrl).host, path, { headers: { cookie } });
      expect(answer.status, path).toBe(404);
      expect(answer.body).toContain('web.path-apps is off');
      expect(answer.body).toContain(`${appUrl(alice)}/`);
    }
    expect((await requestsOf(alice)).length).toBe(before);
  });

  it('on: served on berth’s origin, but no Service Worker script, and no header that acts on the whole origin', async () => {
    expect((await run(['config', 'set', 'web.path-apps', 'on'])).code).toBe(0);
    try {
      const cookie = await berthCookieOf(context);
      const host = new URL(publicUrl).host;
      const answer = await raw(host, `/app/${alice}/main/${PORT}/origin-wide`, { headers: { cookie } });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-kept']).toBe('yes');
      for (const name of [
        'service-worker-allowed',
        'clear-site-data',
        'strict-transport-security',
        'alt-svc',
        'nel',
        'report-to',
        'reporting-endpoints',
        'origin-agent-cluster',
        'set-login',
        'accept-ch',
      ]) {
        expect(answer.headers[name], name).toBeUndefined();
      }
      const before = (await requestsOf(alice)).length;
      const sw = await raw(host, `/app/${alice}/main/${PORT}/sw.js`, { headers: { cookie, 'service-worker': 'script' } });
      expect(sw.status).toBe(403);
      expect((await requestsOf(alice)).length).toBe(before);
      // In the browser: the app's page on berth's origin cannot register its worker there.
      const page = await context.newPage();
      await page.goto(`${publicUrl}/app/${alice}/main/${PORT}/`);
      await page.waitForFunction(() => document.getElementById('sw')?.textContent, null, { timeout: 20_000 });
      expect(await page.textContent('#sw')).not.toContain('registered');
      expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
      expect(context.serviceWorkers()).toHaveLength(0);
    } finally {
      await run(['config', 'unset', 'web.path-apps']);
    }
  });

  it('with neither an apps domain nor path apps, no app link is given', async () => {
    expect((await run(['config', 'unset', 'web.apps-domain'])).code).toBe(0);
    try {
      const r = await run(['vm', 'url', alice, String(PORT)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('serves no web apps');
      expect(r.stderr).toContain('web.apps-domain');
    } finally {
      expect((await run(['config', 'set', 'web.apps-domain', 'localhost'])).code).toBe(0);
    }
  });

  it('berth doctor warns while path apps are on', async () => {
    expect((await run(['config', 'set', 'web.path-apps', 'on'])).code).toBe(0);
    try {
      const on = await run(['doctor', '--json']);
      expect(JSON.parse(on.stdout).web).toMatchObject({ pathApps: true, appsDomain: 'localhost' });
      expect(JSON.parse(on.stdout).web.warning).toContain("berth's own origin");
    } finally {
      await run(['config', 'unset', 'web.path-apps']);
    }
    expect(JSON.parse((await run(['doctor', '--json'])).stdout).web).toMatchObject({ pathApps: false, warning: null });
  });

  it('never writes a ticket or a cookie to the daemon log', async () => {
    const log = await daemonLog(h.home);
    for (const ticket of minted) expect(log).not.toContain(ticket);
    for (const c of await context.cookies()) expect(log).not.toContain(c.value);
  });
});
