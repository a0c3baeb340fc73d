import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../daemon/metrics.js';
import { SessionRegistry } from '../../daemon/sessions.js';
import { WebServer } from '../../daemon/web/server.js';
import { BerthError } from '../../src/errors.js';
import { backupWebLink } from '../../src/services/access/backup-links.js';
import { TicketBook } from '../../src/services/access/web-links.js';
import { openBerth } from '../../src/services/engine/open.js';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { state, waitFor } from '../helpers/daemon.js';
import { docker, type VmHome, vmHome } from '../helpers/docker.js';

// A snapshot downloaded in a browser's way: a one-time link (a ticket the test mints as the
// chat's Download button does), spent once at the landing page for a grant scoped to one
// download's path, and the snapshot streamed as .tar.gz from restic through gzip. The web server
// runs in this process on a home with a real VM, repository and snapshot.

let h: VmHome;
let server: WebServer;
let book: TicketBook;
let base: string;
let alice: { login: string; id: string };
let bob: { login: string; id: string };
let home = '';
let snapshot = '';
const secret = `kept-${randomBytes(6).toString('hex')}`;
let dir = '';

const ctx = () => openBerth(h.home);
const must = async (args: string[]) => {
  const r = await berth(h.home, args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const ticketOf = (url: string) => url.slice(url.indexOf('#') + 1);

async function spend(ticket: string): Promise<{ status: number; body: Record<string, unknown>; cookie: string }> {
  const res = await fetch(`${base}/t`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ ticket }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
  };
}

const get = (path: string, cookie?: string, signal?: AbortSignal) =>
  fetch(`${base}${path}`, { headers: cookie ? { cookie } : {}, redirect: 'manual', ...(signal ? { signal } : {}) });

/** restic containers of this home running now. */
const resticRunning = async () =>
  (await docker.listContainers({ filters: { label: [`dev.berth.instance=${h.instanceId}`, 'dev.berth.backup=true'] } })).length;

beforeAll(async () => {
  h = await vmHome();
  dir = await mkdtemp(join(tmpdir(), 'berth-dl-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await must(['config', 'set', 'ssh.enabled', 'off']);
  await must(['config', 'set', 'web.listen', `127.0.0.1:${port}`]);
  await must(['plan', 'add', 'saved', '--backup-self']);
  alice = { login: `da${randomBytes(2).toString('hex')}`, id: '' };
  bob = { login: `db${randomBytes(2).toString('hex')}`, id: '' };
  await must(['user', 'allow', alice.login, '--plan', 'saved']);
  await must(['user', 'allow', bob.login, '--plan', 'saved']);
  const users = (await state(h.home)).users as Array<{ login: string; id: string }>;
  alice.id = users.find((u) => u.login === alice.login)?.id ?? '';
  bob.id = users.find((u) => u.login === bob.login)?.id ?? '';
  await must(['backup', 'init']);
  await berthJson(h.home, ['vm', 'create', alice.login]);
  const inVm = (script: string) => berth(h.home, ['vm', 'exec', alice.login, '--', 'sh', '-c', script]);
  await waitFor('the VM to be ready', async () => (await inVm('test -f /run/berth-ready')).code === 0, 30_000);
  // A file to find, and 40 MB that do not compress: the stream cannot end before it is read.
  const wrote = await inVm(`echo ${secret} > ~/notes.txt && head -c 40000000 /dev/urandom > ~/big.bin`);
  expect(wrote.code, wrote.stderr).toBe(0);
  const taken = await berthJson<{ snapshot: string; home: string }>(h.home, ['home', 'backup', alice.login]);
  snapshot = taken.snapshot;
  home = taken.home;
  book = new TicketBook();
  const c = ctx();
  server = new WebServer({
    ctx: c,
    log: pino({ level: process.env.DL_LOG ? 'info' : 'silent' }),
    metrics: createMetrics(c).web,
    registry: new SessionRegistry(),
    tickets: book,
  });
  await server.start();
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await h?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a snapshot downloaded from its one-time link', () => {
  it('gives its owner a .tar.gz of their home, once; the grant is for that one path', { timeout: 120_000 }, async () => {
    const link = await backupWebLink(ctx(), book, { home, snapshot }, { userId: alice.id, login: alice.login });
    expect(link).toMatchObject({ home, snapshot });
    const spent = await spend(ticketOf(link.url));
    expect(spent.status).toBe(200);
    const path = `/backups/${home}/${snapshot}.tar.gz`;
    expect(spent.body).toEqual({ location: path, download: true });
    expect(spent.cookie).toMatch(/^berth-download-[a-z0-9]+=[A-Za-z0-9_-]{43}$/);
    // The link works once.
    expect((await spend(ticketOf(link.url))).status).toBe(410);
    // The grant opens nothing else: not another snapshot's path, not a terminal.
    expect((await get(`/backups/${home}/deadbeef.tar.gz`, spent.cookie)).status).toBe(401);
    expect((await get(`/terminal/${alice.login}/main`, spent.cookie)).status).toBe(401);

    const res = await get(path, spent.cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toMatch(
      new RegExp(`^attachment; filename="${alice.login}-main-\\d{4}-\\d\\d-\\d\\d-${snapshot}\\.tar\\.gz"$`),
    );
    const file = join(dir, 'a.tar.gz');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const listing = (await execa('tar', ['-tzf', file])).stdout.split('\n');
    const notes = listing.find((l) => /(^|\/)data\/notes\.txt$/.test(l));
    expect(notes, listing.join('\n')).toBeDefined();
    expect(listing.some((l) => /(^|\/)data\/big\.bin$/.test(l))).toBe(true);
    expect((await execa('tar', ['-xzOf', file, notes as string])).stdout.trim()).toBe(secret);
    // The grant was spent by the download: a second one is refused.
    expect((await get(path, spent.cookie)).status).toBe(401);
    expect((await get(path)).status).toBe(401);
  });

  it('streams at the browser’s pace, and a browser that goes away stops restic', { timeout: 60_000 }, async () => {
    const link = await backupWebLink(ctx(), book, { home, snapshot }, { userId: alice.id, login: alice.login });
    const spent = await spend(ticketOf(link.url));
    const stop = new AbortController();
    const res = await get(`/backups/${home}/${snapshot}.tar.gz`, spent.cookie, stop.signal);
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    expect((await reader?.read())?.value?.length).toBeGreaterThan(0);
    // Not read on: restic waits with most of the 40 MB still to give (nothing is held whole).
    await new Promise((r) => setTimeout(r, 1500));
    expect(await resticRunning()).toBe(1);
    stop.abort();
    await waitFor('restic to be stopped', async () => (await resticRunning()) === 0, 20_000);
  });

  it('is refused for another user’s snapshot, for a malformed id, and once the plan no longer offers it', { timeout: 60_000 }, async () => {
    const bobs = await backupWebLink(ctx(), book, { home, snapshot }, { userId: bob.id, login: bob.login }).catch((e) => e);
    expect(bobs).toBeInstanceOf(BerthError);
    expect((bobs as BerthError).code).toBe('SNAPSHOT_NOT_FOUND');
    expect((bobs as BerthError).message).toBe(`You have no snapshot ${snapshot}.`);
    const bad = await backupWebLink(ctx(), book, { home, snapshot: '../x' }, { userId: alice.id, login: alice.login }).catch((e) => e);
    expect((bad as BerthError).code).toBe('INVALID_SNAPSHOT');
    for (const p of [
      `/backups/${home}/${snapshot}.zip`,
      `/backups/..%2F${home}/${snapshot}.tar.gz`,
      `/backups/${home.toUpperCase()}/${snapshot}.tar.gz`,
    ])
      expect((await get(p)).status, p).toBe(404);
    // Minted while offered, spent after the operator took it away: refused, no grant.
    const link = await backupWebLink(ctx(), book, { home, snapshot }, { userId: alice.id, login: alice.login });
    await must(['plan', 'set', 'saved', '--no-backup-self']);
    const refused = await spend(ticketOf(link.url));
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('BACKUPS_NOT_OFFERED');
    expect(refused.cookie).toBe('');
    const off = await backupWebLink(ctx(), book, { home, snapshot }, { userId: alice.id, login: alice.login }).catch((e) => e);
    expect((off as BerthError).code).toBe('BACKUPS_NOT_OFFERED');
    // The operator's link is not bound by the plan: any home's snapshot.
    const ops = await backupWebLink(ctx(), book, { home, snapshot }, null);
    const opened = await spend(ticketOf(ops.url));
    expect(opened.status).toBe(200);
    const head = await get(`/backups/${home}/${snapshot}.tar.gz`, opened.cookie);
    expect(head.status).toBe(200);
    await head.body?.cancel();
    await must(['plan', 'set', 'saved', '--backup-self']);
  });
});
