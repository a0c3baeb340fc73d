import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';

/** The most a Bot API reply may hold (100 updates of long messages are a few MB). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

interface Init {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
  agent?: http.Agent;
}

/** What grammY reads of a reply. */
interface JsonReply {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

/**
 * The bot's HTTP client for Bot API calls with a JSON body — every call but file uploads — on
 * node:http over grammY's keep-alive agent. node-fetch (grammY's default in Node) builds
 * Headers, Request, Response and two streams around each call: at a thousand updates a second
 * that was a third of the bot's time. Calls with any other body (multipart uploads) go to
 * `fallback`, unchanged. grammY's own timeout and abort signal still end a call.
 */
export function jsonFetch(fallback: typeof fetch = grammyDefaultFetch()): typeof fetch {
  const call = (input: string | URL, init?: Init): Promise<JsonReply> => {
    if (typeof init?.body !== 'string') return fallback(input as string, init as RequestInit) as unknown as Promise<JsonReply>;
    const body = Buffer.from(init.body, 'utf8');
    const url = new URL(String(input));
    const signal = init.signal;
    return new Promise<JsonReply>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const request = (url.protocol === 'https:' ? https : http).request(
        url,
        { method: init.method ?? 'POST', headers: { ...init.headers, 'content-length': String(body.length) }, agent: init.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_REPLY_BYTES) request.destroy(new Error(`the Bot API's reply is over ${MAX_REPLY_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            done();
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            resolve({
              ok: status >= 200 && status < 300,
              status,
              json: async () => JSON.parse(text) as unknown,
              text: async () => text,
            });
          });
        },
      );
      const onAbort = () => request.destroy(abortError());
      const done = () => signal?.removeEventListener('abort', onAbort);
      function fail(err: Error) {
        done();
        reject(err);
      }
      signal?.addEventListener('abort', onAbort);
      request.on('error', fail);
      request.end(body);
    });
  };
  return call as unknown as typeof fetch;
}

function abortError(): Error {
  const err = new Error('The Bot API call was aborted');
  err.name = 'AbortError';
  return err;
}

/** The fetch grammY uses when given none (node-fetch), resolved from grammY's own package. */
function grammyDefaultFetch(): typeof fetch {
  const fromGrammy = createRequire(createRequire(import.meta.url).resolve('grammy'));
  return fromGrammy('node-fetch') as typeof fetch;
}
