import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Berth } from '../../src/services/core/context.js';
import { checkApps, DOCKERFILE_OFF } from '../../src/services/setup/apps-check.js';

/** A context whose state holds `config` and whose engine has the images in `images` (null: no engine answers). */
function context(config: Record<string, unknown>, images: string[] | null): Berth {
  return {
    store: { read: async () => ({ config }) },
    runtime: async () => {
      if (!images) throw new Error('Cannot reach the Docker engine.');
      return { image: async (ref: string) => (images.includes(ref) ? { id: ref } : null) };
    },
  } as unknown as Berth;
}

let server: Server;
let base = '';
/** Requests the index server got: METHOD PATH. */
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    if (req.url === '/simple/') res.writeHead(200).end();
    else if (req.url === '/no-head/') res.writeHead(req.method === 'HEAD' ? 405 : 200).end();
    else if (req.url === '/broken/') res.writeHead(503).end();
    else if (req.url === '/slow/') setTimeout(() => res.writeHead(200).end(), 2000);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('berth doctor, on apps', () => {
  it('warns of a missing base image with the fix (berth app base); no index asked when none is set', async () => {
    asked.length = 0;
    const check = await checkApps(context({}, ['berth-app-python:latest']));
    expect(check.bases).toEqual([
      { runtime: 'python', image: 'berth-app-python:latest', present: true },
      { runtime: 'node', image: 'berth-app-node:latest', present: false },
    ]);
    expect(check.warnings).toHaveLength(1);
    expect(check.warnings[0]).toMatch(/app base image\(s\) missing: berth-app-node:latest \(node\).*berth app base$/);
    expect(check.indexes).toEqual([]);
    expect(asked).toEqual([]);
  });

  it('no warning when both bases are there; an engine that does not answer is said, not thrown', async () => {
    const all = await checkApps(context({}, ['berth-app-python:latest', 'berth-app-node:latest']));
    expect(all.warnings).toEqual([]);
    const none = await checkApps(context({}, null));
    expect(none.bases).toBeNull();
    expect(none.basesProblem).toContain('Cannot reach the Docker engine.');
  });

  it('asks only the configured package indexes: one that answers is ok, a 503, a slow one and a closed port warn', async () => {
    asked.length = 0;
    const ok = await checkApps(context({ 'apps.pip-index-url': `${base}/simple/`, 'apps.npm-registry': `${base}/no-head/` }, []));
    expect(ok.indexes).toEqual([
      { key: 'apps.pip-index-url', url: `${base}/simple/`, ok: true, detail: 'answers (HTTP 200)' },
      { key: 'apps.npm-registry', url: `${base}/no-head/`, ok: true, detail: 'answers (HTTP 200)' },
    ]);
    expect(asked.sort()).toEqual(['GET /no-head/', 'HEAD /no-head/', 'HEAD /simple/']);
    const bad = await checkApps(context({ 'apps.pip-index-url': `${base}/broken/`, 'apps.npm-registry': `${base}/slow/` }, []), {
      deadlineMs: 300,
    });
    expect(bad.indexes.map((i) => [i.ok, i.detail])).toEqual([
      [false, 'answers HTTP 503'],
      [false, 'no answer within 0.3 s'],
    ]);
    expect(bad.warnings.join('\n')).toContain(
      `apps.pip-index-url ${base}/broken/ answers HTTP 503: app builds that install packages will fail`,
    );
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gone = await checkApps(context({ 'apps.pip-index-url': `http://127.0.0.1:${port}/` }, []));
    expect(gone.indexes[0]).toMatchObject({ ok: false, detail: 'no answer: ECONNREFUSED' });
  });

  it('says apps.dockerfile is off, and why, even when the config sets it on', async () => {
    expect((await checkApps(context({}, []))).dockerfile).toEqual({ configured: false, detail: DOCKERFILE_OFF });
    const on = await checkApps(context({ 'apps.dockerfile': true }, []));
    expect(on.dockerfile.detail).toBe(`set on in the config, but ${DOCKERFILE_OFF}`);
    expect(DOCKERFILE_OFF).toContain("Docker 20.10's builder grants its default capabilities and bridge network to RUN steps");
  });
});
