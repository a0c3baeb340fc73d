import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../daemon/metrics.js';
import { SessionRegistry } from '../../daemon/sessions.js';
import { WebServer } from '../../daemon/web/server.js';
import { BerthError } from '../../src/errors.js';
import { ensureRecordingsDir } from '../../src/host/recordings.js';
import { recordingWebLink, requestRecordingLink } from '../../src/services/access/recording-links.js';
import { TicketBook } from '../../src/services/access/web-links.js';
import { callDaemon } from '../../src/services/control/daemon-control.js';
import { ROUTES } from '../../src/services/control/daemon-routes.js';
import { openBerth } from '../../src/services/engine/open.js';
import { berth, berthJson, freePort, tempHome } from '../helpers/cli.js';
import { daemonLog, state, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';

// A session recording replayed in a real browser (Debian's Chromium, headless, through
// playwright-core, only to loopback): the operator's one-time link, spent once, gives that browser
// the one recording it names; no browser session, no other recording. The recordings are written
// here as the recorder writes them (asciicast v2, 0600) for users made with the CLI.

let h: VmHome;
let browser: Browser;
let publicUrl: string;
let alice: { login: string; id: string };
let bob: { login: string; id: string };
/** alice's recording, and bob's. */
const recA = randomBytes(6).toString('hex');
const recB = randomBytes(6).toString('hex');

const run = (args: string[]) => berth(h.home, args);

async function writeCast(home: string, id: string, user: { login: string; id: string }, text: string): Promise<void> {
  const dir = await ensureRecordingsDir(home);
  const header = {
    version: 2,
    width: 80,
    height: 24,
    timestamp: Math.floor(Date.now() / 1000) - 60,
    berth: { session: id, user: user.login, userId: user.id, vm: `${user.login}/main`, via: 'ssh', input: false },
  };
  const lines = [JSON.stringify(header), JSON.stringify([0.1, 'o', '$ echo hi\r\n']), JSON.stringify([0.3, 'o', `${text}\r\n`])];
  await writeFile(join(dir, `${id}.cast`), `${lines.join('\n')}\n`, { mode: 0o600 });
}

async function newUser(login: string): Promise<{ login: string; id: string }> {
  const r = await run(['user', 'allow', login]);
  expect(r.code, r.stderr).toBe(0);
  const user = (await state(h.home)).users.find((u: { login: string }) => u.login === login);
  return { login, id: user.id };
}

/** The ticket of a one-time link (it rides in the fragment). */
const ticketOf = (url: string) => url.slice(url.indexOf('#') + 1);

/** Spends a ticket as the landing page's script does: its status, body and Set-Cookie. */
async function spend(base: string, ticket: string): Promise<{ status: number; body: Record<string, unknown>; cookie: string }> {
  const res = await fetch(`${base}/t`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ ticket }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, cookie: res.headers.get('set-cookie') ?? '' };
}

const get = async (base: string, path: string, cookie?: string) => {
  const res = await fetch(`${base}${path}`, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
};

beforeAll(async () => {
  h = await vmHome();
  const webPort = await freePort();
  publicUrl = `http://127.0.0.1:${webPort}`;
  for (const args of [
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
  ]) {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
  }
  alice = await newUser(`ra${randomBytes(2).toString('hex')}`);
  bob = await newUser(`rb${randomBytes(2).toString('hex')}`);
  await writeCast(h.home, recA, alice, 'hello replay');
  await writeCast(h.home, recB, bob, 'bob was here');
  const start = await run(['daemon', 'start']);
  expect(start.code, start.stderr).toBe(0);
  await waitFor('the web server to run', async () => {
    const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
    return status.components.find((c: { name: string }) => c.name === 'web')?.state === 'running';
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('the operator replays a recording in the browser', () => {
  let first = '';

  it('opens the link from berth sessions replay --web: the player (bundled, under a CSP that allows it only WebAssembly) shows what was recorded', async () => {
    const link = await berthJson<{ url: string; recording: string; expiresAt: string }>(h.home, ['sessions', 'replay', recA, '--web']);
    expect(link.recording).toBe(recA);
    expect(link.url.startsWith(`${publicUrl}/t#`)).toBe(true);
    first = link.url;
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const pageResponse = page.waitForResponse((r) => r.url() === `${publicUrl}/replay/${recA}`);
    await page.goto(link.url);
    await page.waitForURL(new RegExp(`/replay/${recA}$`), { timeout: 20_000 });
    const csp = (await pageResponse).headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    await page.waitForFunction((text) => document.body.innerText.includes(text), 'hello replay', { timeout: 20_000 });
    expect(await page.locator('.ap-player').count()).toBe(1);
    expect(await page.textContent('#title')).toContain(`${alice.login}/main`);
    expect(violations).toEqual([]);
    // A grant for this recording's paths only, HttpOnly, SameSite=Strict; no browser session.
    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ path: `/replay/${recA}`, httpOnly: true, sameSite: 'Strict' });
    expect(cookies[0]?.name).toMatch(/^berth-replay-[a-z0-9]+$/);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    // The same grant does not open bob's recording.
    const cookie = `${cookies[0]?.name}=${cookies[0]?.value}`;
    expect((await get(publicUrl, `/replay/${recB}`, cookie)).status).toBe(401);
    expect((await get(publicUrl, `/replay/${recB}/cast`, cookie)).status).toBe(401);
    const cast = await get(publicUrl, `/replay/${recA}/cast`, cookie);
    expect(cast.status).toBe(200);
    expect(cast.type).toContain('application/x-asciicast');
    expect(cast.body).toContain('hello replay');
    // Audited: who replayed which recording.
    await waitFor('the replay in the daemon log', async () => {
      const log = await daemonLog(h.home);
      return log.split('\n').some((l) => l.includes('"recording replayed"') && l.includes(recA) && l.includes('"viewer":"@operator"'));
    });
    // The log never holds a link's ticket.
    expect(await daemonLog(h.home)).not.toContain(ticketOf(link.url));
    await context.close();
  });

  it('refuses the same link a second time', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(first);
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('already used'), undefined, {
      timeout: 20_000,
    });
    expect(await context.cookies()).toEqual([]);
    expect((await spend(publicUrl, ticketOf(first))).status).toBe(410);
    await context.close();
  });

  it('refuses the page and the cast without a grant, and malformed ids', async () => {
    for (const path of [`/replay/${recA}`, `/replay/${recA}/cast`]) {
      expect((await get(publicUrl, path)).status, path).toBe(401);
      expect((await get(publicUrl, path, 'berth-replay-x=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, path).toBe(401);
    }
    for (const bad of ['ABCDEF123456', '..%2F..%2Fstate.json', 'abc', `${recA}0`]) {
      expect((await get(publicUrl, `/replay/${bad}`)).status, bad).toBe(404);
      expect((await get(publicUrl, `/replay/${bad}/cast`)).status, bad).toBe(404);
    }
    const refused = await requestRecordingLink(h.home, 'not-an-id').catch((e) => e);
    expect(refused).toBeInstanceOf(BerthError);
    expect((refused as BerthError).code).toBe('INVALID_RECORDING_ID');
    // The daemon checks it too (a client of another version might not).
    const asked = await callDaemon(h.home, ROUTES.recordingLink, { body: { id: '../state.json' } }, { needs: 'test' }).catch((e) => e);
    expect((asked as BerthError).code).toBe('INVALID_RECORDING_ID');
    const unknown = await requestRecordingLink(h.home, '0123456789ab').catch((e) => e);
    expect((unknown as BerthError).code).toBe('RECORDING_NOT_FOUND');
  });

  it('spends a replay link in a browser signed in as nobody else: no switch-user question, no browser session', async () => {
    const link = await requestRecordingLink(h.home, recB);
    const spent = await spend(publicUrl, ticketOf(link.url));
    expect(spent.status).toBe(200);
    expect(spent.body).toEqual({ location: `/replay/${recB}` });
    expect(spent.cookie).toMatch(
      new RegExp(`^berth-replay-[a-z0-9]+=[A-Za-z0-9_-]{43}; Path=/replay/${recB}; HttpOnly; SameSite=Strict; Max-Age=3600$`),
    );
    const cookie = spent.cookie.split(';')[0] ?? '';
    const page = await get(publicUrl, `/replay/${recB}`, cookie);
    expect(page.status).toBe(200);
    expect(page.body).toContain('/assets/asciinema-player.js');
    expect(page.body).toContain(`data-cast="/replay/${recB}/cast"`);
    expect(page.body).not.toMatch(/<script>/);
    // The grant is no browser session: no terminal page with it.
    expect((await get(publicUrl, `/terminal/${bob.login}/main`, cookie)).status).toBe(401);
    expect((await get(publicUrl, `/replay/${recA}`, cookie)).status).toBe(401);
  });
});

describe('a user’s replay link', () => {
  // A web server of this process, on a home of its own, with a ticket book the test mints into
  // (as the chat does in the daemon): the user's side of the same landing and routes.
  let home2: { home: string; cleanup: () => Promise<void> };
  let server: WebServer;
  let book: TicketBook;
  let base: string;
  let carol: { login: string; id: string };
  let dave: { login: string; id: string };
  const recC = randomBytes(6).toString('hex');
  const recD = randomBytes(6).toString('hex');
  const run2 = (args: string[]) => berth(home2.home, args);
  const ctx = () => openBerth(home2.home);

  beforeAll(async () => {
    home2 = await tempHome();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    for (const args of [['init'], ['config', 'set', 'web.listen', `127.0.0.1:${port}`], ['config', 'set', 'sessions.record-self', 'on']]) {
      const r = await run2(args);
      expect(r.code, r.stderr).toBe(0);
    }
    const made = async (login: string) => {
      const r = await run2(['user', 'allow', login]);
      expect(r.code, r.stderr).toBe(0);
      return { login, id: (await state(home2.home)).users.find((u: { login: string }) => u.login === login).id as string };
    };
    carol = await made('rcarol');
    dave = await made('rdave');
    await writeCast(home2.home, recC, carol, 'hello replay');
    await writeCast(home2.home, recD, dave, 'dave was here');
    book = new TicketBook();
    const c = ctx();
    server = new WebServer({
      ctx: c,
      log: pino({ level: 'silent' }),
      metrics: createMetrics(c).web,
      registry: new SessionRegistry(),
      tickets: book,
    });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await home2?.cleanup();
  });

  it('is refused at mint for another user’s recording, and with sessions.record-self off', async () => {
    const carols = { userId: carol.id, login: carol.login };
    const other = await recordingWebLink(ctx(), book, recD, carols).catch((e) => e);
    expect(other).toBeInstanceOf(BerthError);
    expect((other as BerthError).code).toBe('RECORDING_NOT_FOUND');
    const bad = await recordingWebLink(ctx(), book, '../../state', carols).catch((e) => e);
    expect((bad as BerthError).code).toBe('INVALID_RECORDING_ID');
    expect((await run2(['config', 'set', 'sessions.record-self', 'off'])).code).toBe(0);
    const off = await recordingWebLink(ctx(), book, recC, carols).catch((e) => e);
    expect((off as BerthError).code).toBe('RECORDINGS_NOT_OFFERED');
    expect((await run2(['config', 'set', 'sessions.record-self', 'on'])).code).toBe(0);
    // The operator's link is not bound by it: any recording.
    expect((await recordingWebLink(ctx(), book, recD, null)).recording).toBe(recD);
  });

  it('opens the user’s own recording; re-checked when spent and at every request', async () => {
    const carols = { userId: carol.id, login: carol.login };
    const link = await recordingWebLink(ctx(), book, recC, carols);
    const spent = await spend(base, ticketOf(link.url));
    expect(spent.status).toBe(200);
    expect(spent.body).toEqual({ location: `/replay/${recC}` });
    const cookie = spent.cookie.split(';')[0] ?? '';
    const cast = await get(base, `/replay/${recC}/cast`, cookie);
    expect(cast.status).toBe(200);
    expect(cast.body).toContain('hello replay');
    expect((await get(base, `/replay/${recD}/cast`, cookie)).status).toBe(401);
    // Minted while allowed, spent after the operator turned sessions.record-self off: refused.
    const later = await recordingWebLink(ctx(), book, recC, carols);
    expect((await run2(['config', 'set', 'sessions.record-self', 'off'])).code).toBe(0);
    const refused = await spend(base, ticketOf(later.url));
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('RECORDINGS_NOT_OFFERED');
    expect(refused.cookie).toBe('');
    // The grant given before is refused now too: checked at every request, and ended when the
    // state changes (so not given back when record-self comes back on).
    expect([401, 403]).toContain((await get(base, `/replay/${recC}/cast`, cookie)).status);
    expect([401, 403]).toContain((await get(base, `/replay/${recC}`, cookie)).status);
    await server.revalidate();
    expect((await run2(['config', 'set', 'sessions.record-self', 'on'])).code).toBe(0);
    expect((await get(base, `/replay/${recC}/cast`, cookie)).status).toBe(401);
    // A revoked user's grant is refused.
    const again = await spend(base, ticketOf((await recordingWebLink(ctx(), book, recC, carols)).url));
    const cookie2 = again.cookie.split(';')[0] ?? '';
    expect((await get(base, `/replay/${recC}/cast`, cookie2)).status).toBe(200);
    expect((await run2(['user', 'revoke', carol.login])).code).toBe(0);
    expect([401, 403]).toContain((await get(base, `/replay/${recC}/cast`, cookie2)).status);
  });
});
