import { BerthError } from '../../src/errors.js';

/** How long fetching a file users sent may take. */
export const FETCH_DEADLINE_MS = 60_000;

/**
 * A file's bytes from a chat service, within a deadline and a size cap counted while it streams
 * (a lying Content-Length changes nothing); redirects are refused.
 */
export async function fetchCapped(url: string, max: number, what: { service: string; tooLarge: () => BerthError }): Promise<Buffer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_DEADLINE_MS), redirect: 'error' }).catch((err: Error) => {
    throw new BerthError('FILE_UNAVAILABLE', `${what.service} did not hand the file over: ${err.message}`, 'Send it again.');
  });
  if (!response.ok || !response.body)
    throw new BerthError('FILE_UNAVAILABLE', `${what.service} answered ${response.status} for that file.`, 'Send it again.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) throw what.tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
