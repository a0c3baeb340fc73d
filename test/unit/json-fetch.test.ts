import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonFetch } from '../../daemon/telegram/json-fetch.js';

/** A Bot API stand-in on loopback: echoes what it got, stalls on /stall, sends too much on /huge. */
let server: http.Server;
let root = '';
const agent = new http.Agent({ keepAlive: true });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/stall') return; // never answers
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const block = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (sent < 80 && res.write(block)) sent++;
          if (sent < 80) res.once('drain', more);
          else res.end();
        };
        res.on('error', () => undefined);
        return more();
      }
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ok: req.url !== '/missing',
          method: req.method,
          type: req.headers['content-type'],
          length: req.headers['content-length'],
          body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  agent.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const init = (body: unknown, signal?: AbortSignal) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', connection: 'keep-alive' },
  body,
  signal,
  agent,
});

describe("the bot's HTTP client for JSON calls", () => {
  it('posts the JSON text with its length and hands back the parsed reply and its status', async () => {
    const text = JSON.stringify({ chat_id: 1, text: 'héllo ✓' });
    const reply = await jsonFetch()(`${root}/bot1/sendMessage`, init(text) as RequestInit);
    expect(reply.status).toBe(200);
    expect(reply.ok).toBe(true);
    expect(await reply.json()).toEqual({
      ok: true,
      method: 'POST',
      type: 'application/json',
      length: String(Buffer.byteLength(text)),
      body: { chat_id: 1, text: 'héllo ✓' },
    });
    const missing = await jsonFetch()(`${root}/missing`, init('{}') as RequestInit);
    expect(missing.status).toBe(404);
    expect(missing.ok).toBe(false);
  });

  it('hands any other body (a multipart upload) to the fallback, untouched', async () => {
    const seen: unknown[] = [];
    const fallback = (async (url: string, options: RequestInit) => {
      seen.push([url, options.body]);
      return { ok: true, status: 200, json: async () => ({ ok: true }) };
    }) as unknown as typeof fetch;
    const stream = (async function* () {
      yield new Uint8Array([1, 2]);
    })();
    await jsonFetch(fallback)(`${root}/upload`, init(stream) as RequestInit);
    expect(seen).toEqual([[`${root}/upload`, stream]]);
  });

  it("ends a call whose signal aborts (grammY's timeout and stop), also one aborted before it starts", async () => {
    const controller = new AbortController();
    const pending = jsonFetch()(`${root}/stall`, init('{}', controller.signal) as RequestInit);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(jsonFetch()(`${root}/stall`, init('{}', controller.signal) as RequestInit)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses a reply over its bound instead of holding it all', async () => {
    await expect(jsonFetch()(`${root}/huge`, init('{}') as RequestInit)).rejects.toThrow(/over \d+ bytes/);
  });
});
