import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SessionViewSchema, WebLinkSchema } from '../../src/views/web-view.js';
import { berth, berthJson, freePort, ROOT } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';
import { debianImage } from '../helpers/images.js';
import { newVmUser } from '../helpers/vm-user.js';
import { connected, openLink, screen, shows, typeLine } from '../helpers/web-terminal-page.js';

// The web terminal and the web-app URLs in a real browser: Debian's Chromium, headless, driven by
// playwright-core, only ever to loopback. The browser reaches the daemon's web server through a
// TCP relay in this process (web.public-url is the relay's address, as it would be a reverse
// proxy's): cutting the relay's connections is a dropped network.

const TICKET_TTL_MS = 30_000;
const APP_PORT = 8000;
/** The same app at the root of its server, reached through /app/… (the prefix taken off). */
const ROOT_APP_PORT = 8001;

let h: VmHome;
let browser: Browser;
let relay: Relay;
let publicUrl: string;
let alice: string;
let bob: string;
/** A link minted at the start and opened only after it has expired. */
let stale: { url: string; expiresAt: string };

const run = (args: string[], input?: string) => berth(h.home, args, { ...(input === undefined ? {} : { input }) });

interface Relay {
  port: number;
  /** Cuts every connection through it, as a network that went away does. */
  cut(): void;
  close(): Promise<void>;
}

async function startRelay(target: number): Promise<Relay> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const newUser = (prefix: string, image: string) => newVmUser(h.home, prefix, image);

/** Every link this file was given: none may be in the daemon log. */
const minted: string[] = [];

async function link(args: string[]): Promise<{ url: string; expiresAt: string; path: string }> {
  const given = WebLinkSchema.parse(await berthJson(h.home, args));
  minted.push(given.url);
  return given;
}

/** How often the page's WebSocket has opened. */
const opens = (page: Page) => page.evaluate(() => (window as unknown as { berth: { opens(): number } }).berth.opens());

const type = typeLine;
const open = openLink;

const sessions = async () => SessionViewSchema.array().parse((await berthJson<{ sessions: unknown[] }>(h.home, ['sessions'])).sessions);

/** A WebSocket upgrade to the terminal from Node, as a hostile client would make it: its HTTP status, or 101. */
function upgrade(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${publicUrl.replace(/^http/, 'ws')}${path}`, { headers, handshakeTimeout: 10_000 });
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

const cookieOf = async (context: BrowserContext) => (await context.cookies(publicUrl)).map((c) => `${c.name}=${c.value}`).join('; ');

beforeAll(async () => {
  h = await vmHome();
  const webPort = await freePort();
  relay = await startRelay(webPort);
  publicUrl = `http://127.0.0.1:${relay.port}`;
  for (const args of [
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
    ['config', 'set', 'web.public-url', publicUrl],
    // The apps at paths of berth's origin (/vm/…, /app/…), an opt-in; apps on origins of their own: web-app-origin.test.ts.
    ['config', 'set', 'web.path-apps', 'on'],
    ['config', 'set', 'ssh.listen', `127.0.0.1:${await freePort()}`],
  ]) {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
  }
  const image = await debianImage(h.home);
  alice = await newUser('wa', image);
  bob = await newUser('wb', image);
  const start = await berth(h.home, ['daemon', 'start'], { env: { BERTH_WEB_TICKET_TTL_MS: String(TICKET_TTL_MS) } });
  expect(start.code, start.stderr).toBe(0);
  stale = await link(['vm', 'web-terminal', alice]);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stopDaemonQuietly(h.home);
  await relay?.close();
  await h.cleanup();
});

describe('the web terminal in a browser', () => {
  let context: BrowserContext;
  let page: Page;
  let pid = '';

  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  });

  it('runs as a daemon component on loopback, with the public URL users are given', async () => {
    const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
    const web = status.components.find((c: { name: string }) => c.name === 'web');
    expect(web.state).toBe('running');
    expect(web.detail).toContain('127.0.0.1:');
    expect(web.detail).toContain(publicUrl);
  });

  it('opens the link from vm web-terminal --json: a shell as the user, not root; the ticket leaves the address bar', async () => {
    const given = await link(['vm', 'web-terminal', alice]);
    expect(given.url.startsWith(`${publicUrl}/t#`)).toBe(true);
    expect(given.path).toBe(`/terminal/${alice}/main`);
    expect(Date.parse(given.expiresAt) - Date.now()).toBeLessThanOrEqual(TICKET_TTL_MS);
    page = await open(context, given.url, new RegExp(`/terminal/${alice}/main$`));
    expect(page.url()).toBe(`${publicUrl}/terminal/${alice}/main`);
    await connected(page);
    await type(page, 'echo $((6*7)); id -un');
    await shows(page, /^42$/m);
    const who = await shows(page, /^42\n(\S+)$/m);
    expect(who).toBe(alice);
    pid = await (async () => {
      await type(page, 'echo "PID-$$"');
      return shows(page, /^PID-(\d+)$/m);
    })();
    // The cookie: HttpOnly, SameSite=Strict, named for this berth home; the page's script cannot read it.
    const [cookie] = await context.cookies(publicUrl);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie?.name).toMatch(/^berth-[a-z0-9]+$/);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    // Listed with the SSH sessions, as alice's web terminal on her VM.
    const listed = await sessions();
    expect(listed).toContainEqual(expect.objectContaining({ user: alice, vm: `${alice}/main`, kind: 'web-terminal' }));
    expect((await run(['ssh', 'sessions'])).stdout).toContain('web-terminal');
  });

  it('follows the browser’s size: stty size in the page changes with the viewport', async () => {
    const sizeShown = async () => {
      const { cols, rows } = await page.evaluate(() => {
        const t = (window as unknown as { berth: { terminal: { cols: number; rows: number } } }).berth.terminal;
        return { cols: t.cols, rows: t.rows };
      });
      await waitFor(`stty size to say ${rows} ${cols}`, async () => {
        await type(page, 'clear; stty size');
        return (await screen(page)).includes(`${rows} ${cols}`);
      });
      return `${rows} ${cols}`;
    };
    const resized = async (width: number, height: number, from: string) => {
      await page.setViewportSize({ width, height });
      await page.waitForFunction(
        (was) => {
          const t = (window as unknown as { berth: { terminal: { cols: number; rows: number } } }).berth.terminal;
          return `${t.rows} ${t.cols}` !== was;
        },
        from,
        { timeout: 10_000 },
      );
      return sizeShown();
    };
    const before = await sizeShown();
    const after = await resized(700, 420, before);
    expect(after).not.toBe(before);
    expect(await resized(1100, 640, after)).toBe(before);
  });

  it('comes back to the same shell on reload, with its earlier output still on the screen', async () => {
    await type(page, 'echo "BEFORE-RELOAD-$$"');
    await shows(page, new RegExp(`^BEFORE-RELOAD-${pid}$`, 'm'));
    await page.reload();
    await connected(page);
    await page.waitForFunction(() => document.getElementById('state')?.textContent?.includes('reattached'), null, { timeout: 20_000 });
    await shows(page, new RegExp(`^BEFORE-RELOAD-${pid}$`, 'm'));
    await type(page, 'echo "AFTER-RELOAD-$$"');
    expect(await shows(page, /^AFTER-RELOAD-(\d+)$/m)).toBe(pid);
  });

  it('reconnects to the same shell when the connection drops (within web.reattach)', async () => {
    const before = await opens(page);
    relay.cut();
    await connected(page, before);
    await type(page, 'echo "AFTER-DROP-$$"');
    expect(await shows(page, /^AFTER-DROP-(\d+)$/m)).toBe(pid);
    await type(page, 'clear; echo $((6*7)); id -un; ls --color=always /usr; printf "\\033[1;32m%s\\033[0m\\n" "berth web terminal"');
    await shows(page, /^berth web terminal$/m);
    await page.screenshot({ path: join(ROOT, 'docs', 'web-terminal.png') });
    expect((await readFile(join(ROOT, 'docs', 'web-terminal.png'))).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses a spent link, a made-up one and, without the cookie, the terminal', async () => {
    const given = await link(['vm', 'web-terminal', alice]);
    const first = await open(context, given.url, /\/terminal\//);
    await first.close();
    const stranger = await browser.newContext();
    try {
      for (const url of [given.url, `${publicUrl}/t#${randomBytes(32).toString('base64url')}`, `${publicUrl}/t#not-a-ticket`]) {
        const p = await stranger.newPage();
        await p.goto(url);
        await p.waitForFunction(() => !document.getElementById('hint')?.hidden, null, { timeout: 10_000 });
        expect(await p.textContent('#status')).toMatch(/expired or was already used/);
        expect(await p.textContent('#hint')).toContain('/web_terminal');
        expect(p.url()).not.toContain('#');
        await p.close();
      }
      expect(await stranger.cookies(publicUrl)).toEqual([]);
      const p = await stranger.newPage();
      const answer = await p.goto(`${publicUrl}/terminal/${alice}/main`);
      expect(answer?.status()).toBe(401);
      expect(await p.textContent('main')).toContain('needs a link from berth');
      const app = await p.goto(`${publicUrl}/vm/${alice}/main/${APP_PORT}/`);
      expect(app?.status()).toBe(401);
    } finally {
      await stranger.close();
    }
  });

  it('refuses an expired link', async () => {
    await waitFor('the first link to expire', async () => Date.now() > Date.parse(stale.expiresAt) + 500, TICKET_TTL_MS + 5000);
    const stranger = await browser.newContext();
    try {
      const p = await stranger.newPage();
      await p.goto(stale.url);
      await p.waitForFunction(() => !document.getElementById('hint')?.hidden, null, { timeout: 10_000 });
      expect(await p.textContent('#status')).toMatch(/expired or was already used/);
      expect(await stranger.cookies(publicUrl)).toEqual([]);
    } finally {
      await stranger.close();
    }
  });

  it('refuses a WebSocket from another Origin, or without the cookie, even with the page’s own path', async () => {
    const path = `/terminal/${alice}/main/ws?cols=80&rows=24`;
    const cookie = await cookieOf(context);
    expect(await upgrade(path, { origin: 'http://evil.example', cookie })).toBe(403);
    expect(await upgrade(path, { origin: `http://localhost:${relay.port}`, cookie })).toBe(403);
    expect(await upgrade(path, { cookie })).toBe(403);
    expect(await upgrade(path, { origin: publicUrl })).toBe(401);
    expect(await upgrade(path, { origin: publicUrl, cookie: `${cookie.split('=')[0]}=${randomBytes(32).toString('base64url')}` })).toBe(
      401,
    );
    // The same request with the right Origin and cookie is let in: the refusals were for those alone.
    expect(await upgrade(path, { origin: publicUrl, cookie })).toBe(101);
  });
});

describe('web apps at /vm/LOGIN/VM/PORT/', () => {
  let context: BrowserContext;

  beforeAll(async () => {
    context = await browser.newContext();
    const app = await readFile(join(ROOT, 'test', 'fixtures', 'prefixed-app.py'), 'utf8');
    const put = await run(['vm', 'exec', '-i', alice, '--', 'sh', '-c', 'cat > app.py'], app);
    expect(put.code, put.stderr).toBe(0);
    const landing = await link(['vm', 'web-terminal', alice]);
    // The app's name for berth's cookie: it tries to set it (and must not manage to).
    const page = await open(context, landing.url, /\/terminal\//);
    const cookie = (await context.cookies(publicUrl))[0]?.name ?? '';
    await page.close();
    const started = await run([
      'vm',
      'exec',
      alice,
      '--',
      'sh',
      '-c',
      [
        `setsid python3 app.py ${APP_PORT} /vm/${alice}/main/${APP_PORT}/ ${cookie} >app.log 2>&1 < /dev/null &`,
        `setsid python3 app.py ${ROOT_APP_PORT} / ${cookie} >root-app.log 2>&1 < /dev/null &`,
      ].join(' '),
    ]);
    expect(started.code, started.stderr).toBe(0);
    const listening = `grep -q ':1F40 .* 0A' /proc/net/tcp && grep -q ':1F41 .* 0A' /proc/net/tcp`;
    await waitFor('the apps to listen', async () => (await run(['vm', 'exec', alice, '--', 'sh', '-c', listening])).code === 0);
  });

  it('serves the app under its prefix through its one-time URL: its page and its WebSocket', async () => {
    const given = await link(['vm', 'url', alice, String(APP_PORT)]);
    expect(given.path).toBe(`/vm/${alice}/main/${APP_PORT}/`);
    const page = await open(context, given.url, new RegExp(`/vm/${alice}/main/${APP_PORT}/$`));
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'echo: hello through berth', null, {
      timeout: 20_000,
    });
    await waitFor('the app WebSocket in the session list', async () =>
      (await sessions()).some((s) => s.user === alice && s.kind === 'web-app' && s.command === `port ${APP_PORT}`),
    );
    const headers = await context.request.get(`${publicUrl}/vm/${alice}/main/${APP_PORT}/headers`);
    expect(await headers.text()).toBe(`prefix: /vm/${alice}/main/${APP_PORT}`);
  });

  it('takes the prefix off for an app at its root (/app/… from vm url --strip), WebSocket too', async () => {
    const given = await link(['vm', 'url', alice, String(ROOT_APP_PORT), '--strip']);
    expect(given.path).toBe(`/app/${alice}/main/${ROOT_APP_PORT}/`);
    const page = await open(context, given.url, new RegExp(`/app/${alice}/main/${ROOT_APP_PORT}/$`));
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'echo: hello through berth', null, {
      timeout: 20_000,
    });
    const headers = await context.request.get(`${publicUrl}/app/${alice}/main/${ROOT_APP_PORT}/headers`);
    expect(await headers.text()).toBe(`prefix: /app/${alice}/main/${ROOT_APP_PORT}`);
    // Without its trailing slash, the page's relative links would miss: it is redirected there.
    const bare = await context.request.get(`${publicUrl}/app/${alice}/main/${ROOT_APP_PORT}?a=1`, { maxRedirects: 0 });
    expect(bare.status()).toBe(302);
    expect(bare.headers().location).toBe(`/app/${alice}/main/${ROOT_APP_PORT}/?a=1`);
  });

  it('never passes berth’s cookie to the app, nor lets the app set it', async () => {
    const before = await context.cookies(publicUrl);
    const berthCookie = before.find((c) => c.name.startsWith('berth-'));
    expect(berthCookie).toBeDefined();
    await context.request.get(`${publicUrl}/vm/${alice}/main/${APP_PORT}/setcookie`);
    const seen = await (await context.request.get(`${publicUrl}/vm/${alice}/main/${APP_PORT}/cookies`)).text();
    expect(seen).toContain('app=1');
    expect(seen).not.toContain(berthCookie?.name ?? 'berth-');
    expect((await context.cookies(publicUrl)).find((c) => c.name === berthCookie?.name)?.value).toBe(berthCookie?.value);
  });

  it('says so when nothing listens on the port, and caps request bodies (web.max-body)', async () => {
    const closed = await context.request.get(`${publicUrl}/vm/${alice}/main/8002/`);
    expect(closed.status()).toBe(502);
    expect(await closed.text()).toContain('Nothing listens on port 8002');
    expect((await run(['config', 'set', 'web.max-body', '4k'])).code).toBe(0);
    try {
      const small = await context.request.post(`${publicUrl}/vm/${alice}/main/${APP_PORT}/upload`, { data: 'x'.repeat(1000) });
      expect(await small.text()).toBe('got 1000 bytes');
      const big = await context.request.post(`${publicUrl}/vm/${alice}/main/${APP_PORT}/upload`, { data: 'x'.repeat(64 * 1024) });
      expect(big.status()).toBe(413);
    } finally {
      await run(['config', 'unset', 'web.max-body']);
    }
  });
});

describe('other users, the operator and revocation', () => {
  let aliceContext: BrowserContext;
  let bobContext: BrowserContext;

  beforeAll(async () => {
    aliceContext = await browser.newContext();
    bobContext = await browser.newContext();
  });

  it('bob’s cookie opens neither alice’s terminal, her WebSocket, nor her port URL', async () => {
    const mine = await open(bobContext, (await link(['vm', 'web-terminal', bob])).url, new RegExp(`/terminal/${bob}/main$`));
    await connected(mine);
    await type(mine, 'id -un');
    await shows(mine, new RegExp(`^${bob}$`, 'm'));
    const p = await bobContext.newPage();
    expect((await p.goto(`${publicUrl}/terminal/${alice}/main`))?.status()).toBe(401);
    expect(await p.textContent('main')).toContain('needs a link from berth');
    expect((await p.goto(`${publicUrl}/vm/${alice}/main/${APP_PORT}/`))?.status()).toBe(401);
    expect(await p.textContent('main')).toContain('needs a link from berth');
    expect(await upgrade(`/terminal/${alice}/main/ws`, { origin: publicUrl, cookie: await cookieOf(bobContext) })).toBe(401);
    await p.close();
  });

  it('holds a user to web.max-sessions web terminals, and the operator can end one (berth sessions kill)', async () => {
    expect((await run(['config', 'set', 'web.max-sessions', '1'])).code).toBe(0);
    try {
      const second = await bobContext.newPage();
      await second.goto(`${publicUrl}/terminal/${bob}/main`);
      await second.waitForFunction(() => document.getElementById('state')?.textContent?.includes('web.max-sessions'), null, {
        timeout: 20_000,
      });
      await second.close();
    } finally {
      await run(['config', 'unset', 'web.max-sessions']);
    }
    const page = bobContext.pages().find((p) => p.url().endsWith(`/terminal/${bob}/main`)) as Page;
    const session = (await sessions()).find((s) => s.user === bob && s.kind === 'web-terminal');
    expect(session).toBeDefined();
    expect((await run(['sessions', 'kill', session?.id ?? ''])).code).toBe(0);
    await page.waitForFunction(() => document.getElementById('state')?.textContent?.includes('ended by the operator'), null, {
      timeout: 20_000,
    });
    await waitFor('bob’s terminal off the list', async () => !(await sessions()).some((s) => s.id === session?.id));
  });

  it('ends a terminal whose browser does not come back within web.reattach, and its shell with it', async () => {
    expect((await run(['config', 'set', 'web.reattach', '2s'])).code).toBe(0);
    const gone = await browser.newContext();
    try {
      const page = await open(gone, (await link(['vm', 'web-terminal', alice])).url, /\/terminal\//);
      await connected(page);
      await type(page, 'echo "SHELL-$$"');
      const shell = await shows(page, /^SHELL-(\d+)$/m);
      const id = await page.evaluate(() => (window as unknown as { berth: { session(): string } }).berth.session());
      expect((await sessions()).map((s) => s.id)).toContain(id);
      await gone.close();
      await waitFor('the terminal off the list', async () => !(await sessions()).some((s) => s.id === id), 15_000);
      await waitFor('its shell to end', async () => (await run(['vm', 'exec', alice, '--', 'kill', '-0', shell])).code !== 0, 15_000);
    } finally {
      await run(['config', 'unset', 'web.reattach']);
    }
  });

  it('closes a revoked user’s terminal and app WebSocket within seconds; her cookie is then worth nothing', async () => {
    const page = await open(aliceContext, (await link(['vm', 'web-terminal', alice])).url, new RegExp(`/terminal/${alice}/main$`));
    await connected(page);
    const app = await open(aliceContext, (await link(['vm', 'url', alice, String(APP_PORT)])).url, /\/vm\//);
    await app.waitForFunction(() => document.getElementById('out')?.textContent?.startsWith('echo:'), null, { timeout: 20_000 });
    expect((await run(['user', 'revoke', alice, '--keep-running'])).code).toBe(0);
    await page.waitForFunction(() => document.getElementById('state')?.textContent?.includes('your access was revoked'), null, {
      timeout: 10_000,
    });
    await app.waitForFunction(() => document.getElementById('out')?.textContent?.endsWith('(closed)'), null, { timeout: 10_000 });
    await waitFor('alice’s sessions off the list', async () => !(await sessions()).some((s) => s.user === alice), 10_000);
    const again = await aliceContext.newPage();
    expect((await again.goto(`${publicUrl}/terminal/${alice}/main`))?.status()).toBe(401);
    expect((await again.goto(`${publicUrl}/vm/${alice}/main/${APP_PORT}/`))?.status()).toBe(401);
  });

  it('never writes a ticket or a cookie to the daemon log; every web session ended with an audit line', async () => {
    const log = await daemonLog(h.home);
    for (const url of minted) expect(log).not.toContain(url.slice(url.indexOf('#') + 1));
    for (const c of [...(await aliceContext.cookies(publicUrl)), ...(await bobContext.cookies(publicUrl))])
      expect(log).not.toContain(c.value);
    const audits = log
      .split('\n')
      .filter((l) => l.includes('"event":"web-session"'))
      .map((l) => JSON.parse(l));
    expect(audits).toContainEqual(expect.objectContaining({ user: alice, kind: 'web-terminal', outcome: 'killed' }));
    expect(audits).toContainEqual(expect.objectContaining({ user: alice, kind: 'web-app', command: `port ${APP_PORT}` }));
    expect(audits).toContainEqual(expect.objectContaining({ user: bob, kind: 'web-terminal', outcome: 'killed' }));
  });
});
