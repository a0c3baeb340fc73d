import { request } from 'node:https';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { stopDaemonQuietly } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';

// The web server's listener rules and HTTPS of its own, through the daemon as an operator runs it.

let h: VmHome;
let port: number;
const run = (args: string[]) => berth(h.home, args);

async function webComponent(): Promise<{ state: string; detail: string }> {
  const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
  return status.components.find((c: { name: string }) => c.name === 'web');
}

async function restart(): Promise<void> {
  await stopDaemonQuietly(h.home);
  const start = await run(['daemon', 'start']);
  expect(start.code, start.stderr).toBe(0);
}

/** One HTTPS request to the web server (its certificate is self-signed: not checked here). */
function https(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  h = await vmHome();
  port = await freePort();
  for (const args of [
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'disk', '0'],
    ['user', 'allow', 'weba'],
  ]) {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
  }
  await berthJson(h.home, ['vm', 'create', 'weba']);
}, 120_000);

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('the web server’s listener', () => {
  it('serves plain HTTP only on loopback: elsewhere it does not start and says why; web.enabled off turns it off', async () => {
    expect((await run(['config', 'set', 'web.listen', `0.0.0.0:${port}`])).code).toBe(0);
    await restart();
    const refused = await webComponent();
    expect(refused.state).toBe('failed');
    expect(refused.detail).toContain('not a loopback address');
    const link = await run(['vm', 'web-terminal', 'weba', '--json']);
    expect(link.code).toBe(1);
    expect(JSON.parse(link.stderr).error.code).toBe('WEB_NOT_RUNNING');
    // Behind a proxy that adds TLS: with web.insecure-http, and a public URL (it cannot guess one for 0.0.0.0).
    expect((await run(['config', 'set', 'web.insecure-http', 'on'])).code).toBe(0);
    await restart();
    expect((await webComponent()).detail).toContain('web.public-url');
    expect((await run(['config', 'unset', 'web.insecure-http'])).code).toBe(0);
    expect((await run(['config', 'set', 'web.enabled', 'off'])).code).toBe(0);
    await restart();
    expect(await webComponent()).toMatchObject({ state: 'disabled', detail: 'web.enabled is off' });
    expect((await run(['config', 'unset', 'web.enabled'])).code).toBe(0);
  });

  it('serves HTTPS itself with web.tls-cert/web.tls-key: the cookie is then __Host- prefixed and Secure', async () => {
    const cert = join(h.home, '..', 'web.pem');
    const key = join(h.home, '..', 'web-key.pem');
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const origin = `https://127.0.0.1:${port}`;
    for (const args of [
      ['config', 'set', 'web.listen', `127.0.0.1:${port}`],
      ['config', 'set', 'web.tls-cert', cert],
      ['config', 'set', 'web.tls-key', key],
      ['config', 'set', 'web.public-url', origin],
    ]) {
      expect((await run(args)).code).toBe(0);
    }
    await restart();
    expect(await webComponent()).toMatchObject({ state: 'running', detail: `127.0.0.1:${port}, public URL ${origin}` });
    const link = await berthJson<{ url: string }>(h.home, ['vm', 'web-terminal', 'weba']);
    expect(link.url.startsWith(`${origin}/t#`)).toBe(true);
    const ticket = link.url.slice(link.url.indexOf('#') + 1);
    const post = (headers: Record<string, string>) =>
      https('POST', '/t', { 'content-type': 'application/json', ...headers }, JSON.stringify({ ticket }));
    // Only from the public URL's own pages.
    expect((await post({ origin: 'https://evil.example' })).status).toBe(403);
    const spent = await post({ origin });
    expect(spent.status).toBe(200);
    const setCookie = String(spent.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-berth-[a-z0-9]+=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/);
    const cookie = setCookie.split(';')[0] ?? '';
    const page = await https('GET', '/terminal/weba/main', { cookie });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('/assets/terminal.js');
    expect(page.body).not.toMatch(/<script>/);
    const asset = await https('GET', '/assets/xterm.js', {});
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toContain('text/javascript');
    expect((await https('GET', '/terminal/weba/main', {})).status).toBe(401);
  });
});
