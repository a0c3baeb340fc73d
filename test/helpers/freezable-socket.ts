import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A unix socket in front of another (an engine's), that forwards every connection to it, and can
 * be frozen: the engine as a hung dockerd shows itself. Frozen, it still accepts connections, and
 * neither forwards nor answers anything, on new connections or on those already open; thawed, the
 * open ones flow again and the ones made while frozen are closed (their clients gave up on them).
 */
export interface FreezableSocket {
  /** unix:// address of the proxy. */
  host: string;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function freezableSocket(target: string): Promise<FreezableSocket> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-freeze-'));
  const path = join(dir, 'engine.sock');
  let frozen = false;
  const open = new Set<{ client: Socket; upstream: Socket | null }>();
  // Half-open both ways: a client that ends its input (exec's stdin) still reads the answer.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const pair: { client: Socket; upstream: Socket | null } = { client, upstream: null };
    open.add(pair);
    client.on('close', () => {
      open.delete(pair);
      pair.upstream?.destroy();
    });
    client.on('error', () => client.destroy());
    if (frozen) {
      // Accepted, never answered: what the client writes is read and dropped.
      client.on('data', () => undefined);
      return;
    }
    const upstream = createConnection({ path: target, allowHalfOpen: true });
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return {
    host: `unix://${path}`,
    freeze: () => {
      frozen = true;
      // Open connections stop flowing both ways.
      for (const { client, upstream } of open) {
        if (!upstream) continue;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    thaw: () => {
      frozen = false;
      for (const pair of open) {
        if (!pair.upstream) {
          pair.client.destroy();
          continue;
        }
        pair.client.pipe(pair.upstream);
        pair.upstream.pipe(pair.client);
      }
    },
    close: async () => {
      for (const { client, upstream } of open) {
        client.destroy();
        upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
