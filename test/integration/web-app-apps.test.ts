import { type IncomingHttpHeaders, request } from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployApp } from '../../src/services/apps/apps.js';
import { openBerth } from '../../src/services/engine/open.js';
import { appCookieName, cookieName } from '../../src/values/web-paths.js';
import { AppWebLinkSchema } from '../../src/views/web-view.js';
import { appBaseImages } from '../helpers/app-images.js';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, type VmHome, vmHome } from '../helpers/docker.js';

// Users' deployed apps (not VM ports) on hosts of their own, app--NAME--LOGIN.localhost (web.apps-domain
// localhost: *.localhost needs no DNS): a real Python app in its hardened container, reached
// through the daemon's web server by its owner after the exchange, by nobody else, and by anyone
// once the owner's plan allows public apps. Every request goes to 127.0.0.1 or the test's own
// Docker network.

const APP_PORT = 8000;
let h: VmHome;
let browser: Browser;
let webPort: number;
let publicUrl: string;
let berthCookie: string;
let appCookie: string;
let plan: string;

const run = (args: string[]) => berth(h.home, args);
const must = async (args: string[]) => {
  const r = await run(args);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
  return r;
};
const host = (login: string, name = 'site') => `app--${name}--${login}.localhost:${webPort}`;

/** The app: answers every GET with who it is and the Cookie header it got, and tries to set berth's cookies. */
const APP = `
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from app %s; cookie=%s" % (os.environ["WHO"], self.headers.get("Cookie") or "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        for name in os.environ["TAKE_COOKIES"].split(","):
            self.send_header("Set-Cookie", name + "=taken; Path=/")
        self.send_header("Set-Cookie", "own=1; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to the web server with the Host header given, as any client can send it. */
function raw(
  hostHeader: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: webPort,
        path,
        method: options.method ?? 'GET',
        headers: { host: hostHeader, ...options.headers },
        timeout: 20_000,
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

const berthHost = () => new URL(publicUrl).host;
const cookieOf = (answer: Answer, name: string) => {
  const line = (answer.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));
  return line ? line.slice(0, line.indexOf(';')) : '';
};

/** `berth app url USER/NAME --json`, checked against its schema. */
const appLink = async (ref: string) => AppWebLinkSchema.parse(await berthJson(h.home, ['app', 'url', ref, '--json']));

/** A link's ticket spent as berth's landing page spends it: berth's cookie of its user. */
async function signIn(url: string): Promise<string> {
  const ticket = url.slice(url.indexOf('#') + 1);
  const answer = await raw(berthHost(), '/t', {
    method: 'POST',
    headers: { origin: publicUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ ticket }),
  });
  expect(answer.status, answer.body).toBe(200);
  expect(JSON.parse(answer.body)).toMatchObject({ location: expect.stringMatching(/^\/apps\/[a-z0-9-]+\/[a-z0-9-]+$/) });
  return cookieOf(answer, berthCookie);
}

/** berth's entry page's post: with berth's cookie, a ticket for the app host (where the browser goes next). */
const entry = (cookie: string, login: string, name = 'site') =>
  raw(berthHost(), `/apps/${login}/${name}`, {
    method: 'POST',
    headers: { cookie, origin: publicUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ to: '/' }),
  });

/** The whole exchange for an owner's link: the app cookie of that app host. */
async function appCookieFor(ref: string): Promise<string> {
  const [login = '', name = ''] = ref.split('/');
  const cookie = await signIn((await appLink(ref)).url);
  const given = await entry(cookie, login, name);
  expect(given.status, given.body).toBe(200);
  const location = new URL(JSON.parse(given.body).location as string);
  expect(location.host).toBe(host(login, name));
  const spent = await raw(location.host, `${location.pathname}${location.search}`, { method: 'POST', headers: { origin: publicUrl } });
  expect(spent.status, spent.body).toBe(303);
  return cookieOf(spent, appCookie);
}

async function deploy(login: string, name: string): Promise<void> {
  const ctx = await openBerth(h.home);
  const app = await deployApp(ctx, {
    user: login,
    name,
    source: { kind: 'files', files: { 'app.py': APP } },
    env: [`WHO=${login}/${name}`, `TAKE_COOKIES=${berthCookie},${appCookie}`],
    port: APP_PORT,
  });
  expect(app.status).toBe('running');
}

/** Whether something answers HTTP at ADDRESS:APP_PORT (the app's container, on the test's network). */
const listening = (address: string) =>
  new Promise<boolean>((resolve) => {
    const req = request({ host: address, port: APP_PORT, path: '/', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });

beforeAll(async () => {
  h = await vmHome();
  webPort = await freePort();
  publicUrl = `http://127.0.0.1:${webPort}`;
  let sshPort = await freePort();
  while (sshPort === webPort) sshPort = await freePort();
  const bases = await appBaseImages(h.home);
  for (const args of [
    ['config', 'set', 'apps.python-image', bases.python],
    ['config', 'set', 'apps.node-image', bases.node],
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
    ['config', 'set', 'web.public-url', publicUrl],
    ['config', 'set', 'web.apps-domain', 'localhost'],
    ['config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`],
    ['user', 'allow', 'alice'],
    ['user', 'allow', 'bob'],
  ])
    await must(args);
  berthCookie = cookieName(publicUrl, h.instanceId);
  appCookie = appCookieName(publicUrl, h.instanceId);
  plan = (await (await openBerth(h.home)).store.read()).users.find((u) => u.login === 'alice')?.plan ?? '';
  await deploy('alice', 'site');
  await deploy('bob', 'site');
  await must(['daemon', 'start']);
  const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
  expect(
    status.components.find((c: { name: string }) => c.name === 'web'),
    await daemonLog(h.home),
  ).toMatchObject({ state: 'running' });
  // Both apps answer on their ports (on the test's network) before any test asks through berth.
  const state = await (await openBerth(h.home)).store.read();
  for (const app of state.apps ?? []) {
    const info = await docker.getContainer(app.containerId ?? '').inspect();
    const address = info.NetworkSettings.Networks[h.network]?.IPAddress ?? '';
    await waitFor(`${app.user}/${app.name} to listen`, () => listening(address), 60_000);
  }
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

describe("a user's app on a host of its own", () => {
  it('its owner opens `berth app url` in a browser and lands on the app, through the exchange', async () => {
    const link = await appLink('alice/site');
    expect(link).toMatchObject({ app: 'alice/site', path: '/apps/alice/site', address: `http://${host('alice')}/`, public: false });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link.url);
    await page.waitForURL(`http://${host('alice')}/`, { timeout: 30_000 });
    await page.waitForFunction(() => document.body?.textContent?.startsWith('hello from app alice/site'), null, { timeout: 30_000 });
    const text = (await page.textContent('body')) ?? '';
    // The app got its own cookie, none of berth's (its attempts to set them were dropped).
    expect(text).not.toContain(berthCookie);
    expect(text).not.toContain(appCookie);
    const cookies = await context.cookies(`http://${host('alice')}/`);
    expect(cookies.find((c) => c.name === appCookie)).toMatchObject({ httpOnly: true, domain: `app--site--alice.localhost` });
    expect(cookies.find((c) => c.name === appCookie)?.value).not.toBe('taken');
    expect(cookies.find((c) => c.name === 'own')?.value).toBe('1');
    await context.close();
  });

  it('an app cookie reaches the app; the app never sees it nor sets berth’s cookies', async () => {
    const cookie = await appCookieFor('alice/site');
    const answer = await raw(host('alice'), '/', { headers: { cookie: `${cookie}; mine=2` } });
    expect(answer.status, answer.body).toBe(200);
    expect(answer.body).toBe('hello from app alice/site; cookie=mine=2');
    expect(answer.headers['set-cookie']).toEqual(['own=1; Path=/']);
  });

  it('without a cookie: a redirect to berth’s entry for the app, nothing of the app', async () => {
    const answer = await raw(host('alice'), '/some/page?x=1');
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(`${publicUrl}/apps/alice/site?to=${encodeURIComponent('/some/page?x=1')}`);
    expect(answer.body).not.toContain('hello from app');
    const entryPage = await raw(berthHost(), '/apps/alice/site?to=/');
    expect(entryPage.status).toBe(200);
    expect(entryPage.body).toContain('Opening the app alice/site');
  });

  it('another user gets nowhere: not with his berth cookie, his app cookie, or his ticket', async () => {
    const bobBerth = await signIn((await appLink('bob/site')).url);
    const refused = await entry(bobBerth, 'alice');
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'WEB_NOT_OWNER' });
    // His app cookie (for his own app host) at hers: no session there.
    const bobApp = await appCookieFor('bob/site');
    const withHis = await raw(host('alice'), '/', { headers: { cookie: bobApp } });
    expect(withHis.status).toBe(302);
    expect(withHis.body).not.toContain('hello from app');
    // His own host still answers him.
    expect((await raw(host('bob'), '/', { headers: { cookie: bobApp } })).body).toContain('hello from app bob/site');
    // A ticket for his host, spent at hers: refused.
    const given = await entry(bobBerth, 'bob');
    const location = new URL(JSON.parse(given.body).location as string);
    const spent = await raw(host('alice'), `${location.pathname}${location.search}`, { method: 'POST', headers: { origin: publicUrl } });
    expect(spent.status).toBe(410);
    expect(cookieOf(spent, appCookie)).toBe('');
  });

  it('a host with a VM port’s label for the app is not the app', async () => {
    for (const label of [`${APP_PORT}--site--alice`, 'site--alice', 'app--site', 'app--site--alice--x']) {
      const answer = await raw(`${label}.localhost:${webPort}`, '/');
      expect(answer.status, label).toBe(404);
      expect(answer.body).toContain('There is no web app at this address');
    }
  });

  it('with the plan’s public apps on, anyone reaches it without a cookie (and without berth’s); off again, no more', async () => {
    await must(['plan', 'set', plan, '--app-public']);
    expect((await appLink('alice/site')).public).toBe(true);
    const anonymous = await raw(host('alice'), '/', { headers: { cookie: `${berthCookie}=forged; visitor=1` } });
    expect(anonymous.status, anonymous.body).toBe(200);
    expect(anonymous.body).toBe('hello from app alice/site; cookie=visitor=1');
    expect(anonymous.headers['set-cookie']).toEqual(['own=1; Path=/']);
    // A post from any site: a public app is anyone's, no cookie of berth's goes with it.
    const posted = await raw(host('alice'), '/', { method: 'POST', headers: { origin: 'http://elsewhere.example' } });
    expect(posted.status).toBe(501);
    await must(['plan', 'set', plan, '--no-app-public']);
    const after = await raw(host('alice'), '/');
    expect(after.status).toBe(302);
  });

  it('without web.apps-domain there is no link: apps are never served at paths of berth’s origin', async () => {
    await must(['config', 'set', 'web.apps-domain', '']);
    try {
      const r = await run(['app', 'url', 'alice/site', '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain('WEB_APP_NEEDS_DOMAIN');
    } finally {
      await must(['config', 'set', 'web.apps-domain', 'localhost']);
    }
  });

  it('a stopped app: a clear 502 at once, not a hang; removed, its cookies end (a new app of that name is not let in by them)', async () => {
    const cookie = await appCookieFor('alice/site');
    await must(['app', 'stop', 'alice/site']);
    const started = Date.now();
    const stopped = await raw(host('alice'), '/', { headers: { cookie } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stopped.status).toBe(502);
    expect(stopped.body).toContain('The app alice/site is not running');
    expect((await appLink('alice/site').catch((e: Error) => e)) instanceof Error).toBe(true);
    await must(['app', 'remove', 'alice/site']);
    const gone = await raw(host('alice'), '/', { headers: { cookie } });
    expect(gone.status).toBe(404);
    // Its app cookies ended with it: the same name deployed again (a new app) asks for a new exchange.
    await deploy('alice', 'site');
    await waitFor(
      'the new app through berth',
      async () => {
        const answer = await raw(host('alice'), '/', { headers: { cookie } });
        return answer.status === 302 ? answer : null;
      },
      60_000,
    );
    const fresh = await appCookieFor('alice/site');
    await waitFor(
      'the new app to answer',
      async () => {
        const answer = await raw(host('alice'), '/', { headers: { cookie: fresh } });
        return answer.status === 200 && answer.body.startsWith('hello from app alice/site');
      },
      60_000,
    );
    expect((await raw(host('alice'), '/', { headers: { cookie } })).status).toBe(302);
  }, 240_000);
});
