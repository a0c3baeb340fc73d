import { chmod, rm } from 'node:fs/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

export interface ApiOptions {
  socket: string;
  metricsListen: string;
  status: () => Promise<unknown>;
  metrics: Metrics;
  /** The bot's state for `berth telegram status`. */
  telegram: () => unknown;
  ssh: { sessions: () => unknown[]; kill: (id: string) => boolean; revalidate: () => Promise<number> };
  /** More routes, each added by a module of its own (the web server's links). */
  routes?: Array<(app: FastifyInstance) => void>;
}

/** The control API on a unix socket only the operator can open; /metrics optionally on TCP too. */
export async function startApi(options: ApiOptions): Promise<{ close: () => Promise<void>; metricsAddress: string | null }> {
  const app = Fastify({ logger: false });
  app.get('/health', async () => ({ ok: true, pid: process.pid }));
  app.get('/status', async () => options.status());
  app.get('/telegram', async () => options.telegram());
  const metricsRoute = async (_req: unknown, reply: { type: (t: string) => void }) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  };
  app.get('/metrics', metricsRoute);
  app.get('/ssh/sessions', async () => ({ sessions: options.ssh.sessions() }));
  app.post('/ssh/revalidate', async () => ({ closed: await options.ssh.revalidate() }));
  app.delete<{ Params: { id: string } }>('/ssh/sessions/:id', async (req, reply) => {
    if (options.ssh.kill(req.params.id)) return { killed: req.params.id };
    reply.code(404);
    return {
      code: 'SESSION_NOT_FOUND',
      message: `There is no open SSH session ${req.params.id.slice(0, 40)}.`,
      hint: 'See the open sessions with: berth ssh sessions',
    };
  });
  for (const add of options.routes ?? []) add(app);
  await rm(options.socket, { force: true });
  await app.listen({ path: options.socket });
  await chmod(options.socket, 0o600);

  let tcp: FastifyInstance | null = null;
  let metricsAddress: string | null = null;
  if (options.metricsListen) {
    tcp = Fastify({ logger: false });
    tcp.get('/metrics', metricsRoute);
    const at = options.metricsListen.lastIndexOf(':');
    const host = options.metricsListen.slice(0, at).replace(/^\[|\]$/g, '');
    await tcp.listen({ host, port: Number(options.metricsListen.slice(at + 1)) });
    metricsAddress = options.metricsListen;
  }
  return {
    metricsAddress,
    close: async () => {
      await app.close();
      await tcp?.close();
    },
  };
}
