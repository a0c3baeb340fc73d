import { chmod, rm } from 'node:fs/promises';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { BerthError } from '../src/errors.js';
import {
  type AppWebLink,
  apiStatus,
  type BackupLink,
  badRequest,
  checkSessionId,
  type DaemonDiscord,
  type DaemonStatus,
  type DaemonTelegram,
  issuesLine,
  type RecordingLink,
  ROUTES,
  type Route,
  type SshSessionView,
  sessionNotFound,
  type WebLink,
} from '../src/services/control/daemon-routes.js';
import { listenParts } from '../src/values/listen-address.js';
import type { Metrics } from './metrics.js';

export interface ApiOptions {
  socket: string;
  metricsListen: string;
  status: () => Promise<DaemonStatus>;
  metrics: Metrics;
  /** The bot's state for `berth telegram status`. */
  telegram: () => DaemonTelegram;
  /** The Discord bot's state for `berth discord status`. */
  discord: () => DaemonDiscord;
  ssh: { sessions: () => SshSessionView[]; kill: (id: string) => boolean; revalidate: () => Promise<number> };
  /** Mints a one-time web link (the web server's tickets). */
  webLink: (ref: string, port?: string, strip?: boolean) => Promise<WebLink>;
  /** Mints a one-time link into a user's app (USER/NAME). */
  appWebLink: (ref: string) => Promise<AppWebLink>;
  /** Mints a one-time link to a session recording's replay page, for the operator. */
  recordingLink: (id: string) => Promise<RecordingLink>;
  /** Mints a one-time link that downloads a snapshot of a home, for the operator. */
  backupLink: (home: string, snapshot: string) => Promise<BackupLink>;
  /** Where an answer that failed for a reason of ours (not the request's) is logged. */
  log?: Pick<Logger, 'error'>;
}

type Handler<P, B, R> = (input: { params: P; body: B }, reply: FastifyReply) => Promise<R> | R;

/** Registers one route of the map: its params and body checked with its zod schemas first. */
function serve<P, B, R>(app: FastifyInstance, route: Route<P, B, R>, handler: Handler<P, B, R>): void {
  app.route({
    method: route.method,
    url: route.path,
    handler: async (req, reply) => {
      const parse = <T>(schema: Route<P, B, R>['params'] | Route<P, B, R>['body'] | null, value: unknown, what: string): T => {
        if (!schema) return undefined as T;
        const parsed = schema.safeParse(value);
        if (!parsed.success) throw badRequest(`${route.method} ${route.path}`, issuesLine(what, parsed.error.issues));
        return parsed.data as T;
      };
      const params = parse<P>(route.params, req.params, 'params');
      const body = parse<B>(route.body, req.body ?? undefined, 'body');
      return handler({ params, body }, reply);
    },
  });
}

/**
 * Every refusal is the BerthError JSON `{code, message, hint}` with its status (see apiStatus):
 * what a handler throws, a body fastify cannot read (400), a route that does not exist (404);
 * anything else is a 500 that says only that it failed, and is logged.
 */
function answerErrors(app: FastifyInstance, log: ApiOptions['log']): void {
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    if (err instanceof BerthError) return reply.code(apiStatus(err)).send(err.toJSON());
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(badRequest(`${req.method} ${req.url.slice(0, 80)}`, err.message).toJSON());
    }
    log?.error({ component: 'api', err: String(err), route: `${req.method} ${req.url}` }, 'an API answer failed');
    const failed = new BerthError(
      'DAEMON_ERROR',
      `The daemon failed to answer ${req.method} ${req.url.slice(0, 80)}.`,
      'See its log: berth daemon logs',
    );
    return reply.code(500).send(failed.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const none = new BerthError(
      'NOT_FOUND',
      `The daemon has no ${req.method} ${req.url.slice(0, 80)}.`,
      'berth and its daemon may be different versions: restart the daemon (berth daemon stop && berth daemon start).',
    );
    return reply.code(404).send(none.toJSON());
  });
}

/** The control API on a unix socket only the operator can open; /metrics optionally on TCP too. */
export async function startApi(options: ApiOptions): Promise<{ close: () => Promise<void>; metricsAddress: string | null }> {
  const metrics: Handler<undefined, undefined, string> = async (_input, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  };
  const app = Fastify({ logger: false });
  answerErrors(app, options.log);
  serve(app, ROUTES.health, () => ({ ok: true as const, pid: process.pid }));
  serve(app, ROUTES.status, () => options.status());
  serve(app, ROUTES.telegram, () => options.telegram());
  serve(app, ROUTES.discord, () => options.discord());
  serve(app, ROUTES.metrics, metrics);
  serve(app, ROUTES.sshSessions, () => ({ sessions: options.ssh.sessions() }));
  serve(app, ROUTES.sshRevalidate, async () => ({ closed: await options.ssh.revalidate() }));
  serve(app, ROUTES.sshKill, ({ params }) => {
    const id = checkSessionId(params.id);
    if (!options.ssh.kill(id)) throw sessionNotFound(id);
    return { killed: id };
  });
  serve(app, ROUTES.webLink, ({ body }) => options.webLink(body?.vm ?? '', body?.port, body?.strip));
  serve(app, ROUTES.appWebLink, ({ body }) => options.appWebLink(body?.app ?? ''));
  serve(app, ROUTES.recordingLink, ({ body }) => options.recordingLink(body?.id ?? ''));
  serve(app, ROUTES.backupLink, ({ body }) => options.backupLink(body?.home ?? '', body?.snapshot ?? ''));
  await rm(options.socket, { force: true });
  await app.listen({ path: options.socket });
  await chmod(options.socket, 0o600);

  let tcp: FastifyInstance | null = null;
  let metricsAddress: string | null = null;
  if (options.metricsListen) {
    tcp = Fastify({ logger: false });
    answerErrors(tcp, options.log);
    serve(tcp, ROUTES.metrics, metrics);
    await tcp.listen(listenParts(options.metricsListen));
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
