import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX, API_ROUTES } from '../../daemon/web/api-routes.js';
import { appBaseImages } from '../helpers/app-images.js';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';

/*
 * The HTTP API as a user's CI uses it, through the real daemon's web server and the local engine:
 * a token made with the CLI deploys an archive, reads, stops, starts and removes the app; another
 * user's token sees none of it; bad tokens, oversized and hostile archives and floods are refused
 * with the documented codes, and the daemon keeps answering.
 */

let h: VmHome;
let base: string;
const tokens: Record<string, string> = {};
const MAIN_PY = 'import time\nprint("hello from the api", flush=True)\nwhile True:\n    time.sleep(60)\n';

async function must(args: string[]) {
  const run = await berth(h.home, args);
  if (run.code !== 0) throw new Error(`berth ${args.join(' ')}: ${run.stderr}`);
  return run;
}

async function tarGz(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => p.on('end', r));
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON answers are checked field by field
  json: any;
}

async function call(method: string, path: string, options: { token?: string; headers?: Record<string, string>; body?: BodyInit } = {}) {
  const res = await fetch(`${base}${API_PREFIX}${path}`, {
    method,
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
    signal: AbortSignal.timeout(300_000),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json } as Answer;
}

function archiveForm(archive: Buffer, fields: Record<string, string | string[]> = {}): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) form.append(name, v);
  form.append('archive', new Blob([archive]), 'app.tgz');
  return form;
}

beforeAll(async () => {
  h = await vmHome();
  const bases = await appBaseImages(h.home);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  for (const args of [
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'web.listen', `127.0.0.1:${port}`],
    ['config', 'set', 'apps.python-image', bases.python],
    ['config', 'set', 'apps.node-image', bases.node],
    ['user', 'allow', 'alice'],
    ['user', 'allow', 'bob'],
  ])
    await must(args);
  for (const login of ['alice', 'bob']) {
    const made = await must(['user', 'token', 'create', login, '--name', 'ci']);
    tokens[login] = made.stdout.trim();
    expect(tokens[login]).toMatch(/^berth_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
  }
  await must(['daemon', 'start']);
  await waitFor('the web server', async () => (await fetch(`${base}${API_PREFIX}/openapi.json`).catch(() => null))?.ok);
}, 900_000);

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  await h?.cleanup();
});

describe('the apps API', () => {
  it('describes itself at /api/v1/openapi.json without a token: every route, the bearer scheme, the App schema', async () => {
    const doc = await call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe('3.1.0');
    expect(doc.json.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const route of API_ROUTES) {
      const path = `${API_PREFIX}${route.path.replace(/:(\w+)/g, '{$1}')}`;
      expect(doc.json.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
    }
    const listed = Object.values(doc.json.paths as Record<string, object>).flatMap((methods) => Object.keys(methods));
    expect(listed).toHaveLength(API_ROUTES.length);
    expect(Object.keys(doc.json.components.schemas.App.properties)).toContain('status');
  });

  it('refuses a missing, malformed, oversized or revoked token alike (401 TOKEN_INVALID), and keeps answering', async () => {
    const extra = await must(['user', 'token', 'create', 'alice', '--name', 'soon-revoked']);
    const revoked = extra.stdout.trim();
    expect((await call('GET', '/apps', { token: revoked })).status).toBe(200);
    await must(['user', 'token', 'revoke', 'alice', revoked.split('_')[1] as string]);
    const answers = [
      await call('GET', '/apps'),
      await call('GET', '/apps', { token: 'garbage' }),
      await call('GET', '/apps', { headers: { authorization: 'Basic YWxpY2U6eA==' } }),
      await call('GET', '/apps', { token: `berth_${'a'.repeat(10_000)}` }),
      await call('GET', '/apps', { token: revoked }),
      await call('GET', '/apps', { token: `${tokens.alice?.slice(0, -1)}${tokens.alice?.endsWith('A') ? 'B' : 'A'}` }),
    ];
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.json).toEqual(answers[0]?.json);
      expect(a.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect(answers[0]?.json.code).toBe('TOKEN_INVALID');
    expect((await call('HEAD', '/apps')).status).toBe(401);
    // Bytes that are no HTTP at all: the connection is dropped; the server goes on.
    await new Promise<void>((resolve) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => socket.write('\x16\x03\x01garbage\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    expect((await call('GET', '/apps', { token: tokens.alice })).status).toBe(200);
    expect((await call('GET', '/nothing-here', { token: tokens.alice })).json.code).toBe('API_NOT_FOUND');
  });

  it("deploys an archive with a user's token; lists, shows, logs, stops, starts and removes it; another user's token reaches none of it", async () => {
    const t0 = Date.now();
    const deployed = await call('POST', '/apps/mybot/deploy', {
      token: tokens.alice,
      body: archiveForm(await tarGz({ 'main.py': MAIN_PY }), { env: ['GREETING=hi', 'MODE=ci'] }),
    });
    expect(deployed.status, deployed.text).toBe(201);
    expect(deployed.json).toMatchObject({ ref: 'alice/mybot', status: 'running', env: { GREETING: 'hi', MODE: 'ci' } });
    expect(deployed.json.source).toMatchObject({ kind: 'archive', runtime: 'python', entrypoint: 'main.py' });
    const deployMs = Date.now() - t0;

    const list = await call('GET', '/apps', { token: tokens.alice });
    expect(list.json.map((a: { ref: string }) => a.ref)).toEqual(['alice/mybot']);
    expect((await call('GET', '/apps/mybot', { token: tokens.alice })).json.status).toBe('running');
    const logs = await waitFor(
      'the app’s output',
      async () => {
        const a = await call('GET', '/apps/mybot/logs?lines=10', { token: tokens.alice });
        return a.text.includes('hello from the api') ? a : null;
      },
      30_000,
    );
    expect(logs.headers.get('content-type')).toContain('text/plain');
    expect((await call('GET', '/apps/mybot/logs?lines=5000', { token: tokens.alice })).status).toBe(400);

    // Bob's token: his own list is empty, and alice's app is not there for him, whatever he tries.
    expect((await call('GET', '/apps', { token: tokens.bob })).json).toEqual([]);
    for (const [method, path] of [
      ['GET', '/apps/mybot'],
      ['GET', '/apps/mybot/logs'],
      ['POST', '/apps/mybot/stop'],
      ['POST', '/apps/mybot/restart'],
      ['DELETE', '/apps/mybot'],
      ['GET', '/apps/alice%2Fmybot'],
    ] as const) {
      const a = await call(method, path, { token: tokens.bob });
      expect(a.status, `${method} ${path}: ${a.text}`).toBeGreaterThanOrEqual(400);
      expect([404, 400]).toContain(a.status);
      expect(['APP_NOT_FOUND', 'INVALID_APP_NAME']).toContain(a.json.code);
    }
    expect((await call('GET', '/apps/mybot', { token: tokens.alice })).json.status).toBe('running');

    const stopped = await call('POST', '/apps/mybot/stop', { token: tokens.alice });
    expect(stopped.json).toMatchObject({ status: 'stopped', stopReason: 'user' });
    expect((await call('POST', '/apps/mybot/start', { token: tokens.alice })).json.status).toBe('running');
    expect((await call('POST', '/apps/mybot/restart', { token: tokens.alice })).json.status).toBe('running');

    // Deployed again from JSON files, replacing it; without replace it is refused.
    const again = { files: { 'main.py': MAIN_PY.replace('hello', 'hello again') }, env: { GREETING: 'json' } };
    const json = { 'content-type': 'application/json' };
    const refused = await call('POST', '/apps/mybot/deploy', { token: tokens.alice, headers: json, body: JSON.stringify(again) });
    expect([refused.status, refused.json.code]).toEqual([409, 'APP_EXISTS']);
    const replaced = await call('POST', '/apps/mybot/deploy', {
      token: tokens.alice,
      headers: json,
      body: JSON.stringify({ ...again, replace: true }),
    });
    expect(replaced.status, replaced.text).toBe(201);
    expect(replaced.json).toMatchObject({ status: 'running', env: { GREETING: 'json' }, source: { kind: 'files' } });

    const removed = await call('DELETE', '/apps/mybot', { token: tokens.alice });
    expect(removed.json).toEqual({ removed: 'alice/mybot', id: deployed.json.id });
    expect((await call('GET', '/apps/mybot', { token: tokens.alice })).status).toBe(404);

    // Each change is audited in the daemon log, with the user, the token and the source address.
    const audit = (await daemonLog(h.home)).split('\n').filter((l) => l.includes('"event":"api"'));
    const tokenId = tokens.alice?.split('_')[1];
    expect(audit.some((l) => l.includes('"route":"POST /api/v1/apps/:name/deploy"') && l.includes(`"tokenId":"${tokenId}"`))).toBe(true);
    expect(audit.some((l) => l.includes('"route":"DELETE /api/v1/apps/:name"') && l.includes('"outcome":"ok"'))).toBe(true);
    expect(deployMs).toBeLessThan(120_000);
    // The token's use is recorded (at most once a minute), for `berth user token list`.
    const listed = await berthJson<Array<{ id: string; lastUsedAt?: string }>>(h.home, ['user', 'token', 'list', 'alice']);
    expect(listed.find((t) => t.id === tokenId)?.lastUsedAt).toBeDefined();
  }, 300_000);

  it('refuses an archive over apps.max-upload (413) and a hostile one (422 ARCHIVE_UNSAFE), deploying nothing', async () => {
    await must(['config', 'set', 'apps.max-upload', '64k']);
    try {
      const big = await tarGz({ 'main.py': MAIN_PY, 'blob.bin': randomBytes(200 * 1024) });
      const tooBig = await call('POST', '/apps/big/deploy', { token: tokens.alice, body: archiveForm(big) });
      expect([tooBig.status, tooBig.json.code]).toEqual([413, 'ARCHIVE_UNSAFE']);
      const bigJson = await call('POST', '/apps/big/deploy', {
        token: tokens.alice,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ files: { 'main.py': 'x'.repeat(300 * 1024) } }),
      });
      expect(bigJson.status).toBe(413);
      // Chunked, with no length said up front: cut as it comes.
      const chunked = await fetch(`${base}${API_PREFIX}/apps/big/deploy`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
        body: new Blob([JSON.stringify({ files: { 'main.py': 'x'.repeat(300 * 1024) } })]).stream(),
        duplex: 'half',
      } as RequestInit);
      expect([chunked.status, ((await chunked.json()) as { code: string }).code]).toEqual([413, 'ARCHIVE_UNSAFE']);
    } finally {
      await must(['config', 'unset', 'apps.max-upload']);
    }
    const hostile = await call('POST', '/apps/evil/deploy', {
      token: tokens.alice,
      body: archiveForm(await tarGz({ 'main.py': MAIN_PY, '../x': 'out' })),
    });
    expect([hostile.status, hostile.json.code]).toEqual([422, 'ARCHIVE_UNSAFE']);
    const noArchive = await call('POST', '/apps/evil/deploy', {
      token: tokens.alice,
      body: (() => {
        const f = new FormData();
        f.append('runtime', 'python');
        return f;
      })(),
    });
    expect([noArchive.status, noArchive.json.code]).toEqual([400, 'API_BAD_REQUEST']);
    const unknownField = await call('POST', '/apps/evil/deploy', {
      token: tokens.alice,
      body: archiveForm(await tarGz({ 'main.py': MAIN_PY }), { privileged: 'true' }),
    });
    expect([unknownField.status, unknownField.json.code]).toEqual([400, 'API_BAD_REQUEST']);
    const noSource = await call('POST', '/apps/evil/deploy', {
      token: tokens.alice,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'python' }),
    });
    expect([noSource.status, noSource.json.code]).toEqual([400, 'INVALID_APP_SOURCE']);
    expect((await call('GET', '/apps', { token: tokens.alice })).json).toEqual([]);
  }, 120_000);

  it('limits requests per token, deploys per user and failed tokens per address (429 with Retry-After)', async () => {
    await must(['config', 'set', 'web.api-rate', '5']);
    try {
      const statuses: number[] = [];
      let last: Answer | undefined;
      for (let i = 0; i < 7; i++) {
        last = await call('GET', '/apps', { token: tokens.bob });
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      expect(last?.json.code).toBe('API_RATE_LIMIT');
      expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another token is counted on its own.
      expect((await call('GET', '/apps', { token: tokens.alice })).status).toBe(200);
    } finally {
      await must(['config', 'unset', 'web.api-rate']);
    }

    await must(['config', 'set', 'web.api-deploy-rate', '2']);
    try {
      const deploy = () =>
        call('POST', '/apps/x/deploy', { token: tokens.bob, headers: { 'content-type': 'application/json' }, body: '{}' });
      expect((await deploy()).status).toBe(400);
      expect((await deploy()).status).toBe(400);
      const third = await deploy();
      expect([third.status, third.json.code]).toEqual([429, 'API_RATE_LIMIT']);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(60);
    } finally {
      await must(['config', 'unset', 'web.api-deploy-rate']);
    }

    // A source guessing tokens is stopped after web.api-auth-failures (20) a minute, its valid
    // tokens too; another source is not. (The test is the loopback "proxy" naming the sources.)
    const from = (ip: string, token?: string) => call('GET', '/apps', { ...(token ? { token } : {}), headers: { 'x-forwarded-for': ip } });
    for (let i = 0; i < 20; i++) expect((await from('203.0.113.7', `berth_${i}`)).status).toBe(401);
    const blocked = await from('203.0.113.7', tokens.alice);
    expect([blocked.status, blocked.json.code]).toEqual([429, 'API_AUTH_RATE']);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await from('198.51.100.4', tokens.alice)).status).toBe(200);
  }, 60_000);

  it('is off with web.api off: every route a 404 API_DISABLED', async () => {
    await must(['config', 'set', 'web.api', 'off']);
    try {
      const off = await call('GET', '/apps', { token: tokens.alice });
      expect([off.status, off.json.code]).toEqual([404, 'API_DISABLED']);
      expect((await call('GET', '/openapi.json')).status).toBe(404);
    } finally {
      await must(['config', 'unset', 'web.api']);
    }
    expect((await call('GET', '/apps', { token: tokens.alice })).status).toBe(200);
  });
});
