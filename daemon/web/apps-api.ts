import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pino from 'pino';
import { type Actor, loginActor } from '../../src/domain/actor.js';
import { checkAppName } from '../../src/domain/apps.js';
import { BerthError, type ErrorCode } from '../../src/errors.js';
import { touchApiToken, verifyApiToken } from '../../src/services/apps/api-tokens.js';
import {
  appLogText,
  type DeployInput,
  deployApp,
  describeSource,
  getApp,
  listApps,
  removeApp,
  restartApp,
  startApp,
  stopApp,
} from '../../src/services/apps/apps.js';
import { issuesLine } from '../../src/services/control/daemon-routes.js';
import type { Berth } from '../../src/services/core/context.js';
import { APP_RUNTIMES, type App, type AppRuntime } from '../../src/state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../src/values/config-keys.js';
import { printable } from '../../src/values/names.js';
import { formatSize } from '../../src/values/sizes.js';
import { appView } from '../../src/views/app-view.js';
import type { WebMetrics } from '../metrics.js';
import { sourceKey } from '../ssh/rate-limit.js';
import { ApiLimits } from './api-limits.js';
import { openApiDocument } from './api-openapi.js';
import {
  API_PREFIX,
  API_ROUTES,
  type ApiRoute,
  DEFAULT_LOG_LINES,
  JsonDeploySchema,
  MAX_LOG_LINES,
  MULTIPART_FIELDS,
} from './api-routes.js';
import { securityHeaders } from './pages.js';
import { apiAudit } from './web-audit.js';

export interface AppsApiOptions {
  ctx: Berth;
  log: pino.Logger;
  metrics: WebMetrics;
  /** The client's address (behind a local proxy, the one it names). */
  source: (req: IncomingMessage) => string;
  /** Refusals, summarised per source and reason. */
  note: (source: string, reason: string, message: string, fields?: Record<string, unknown>) => void;
  /** The server's idle time for a connection, given back after a deploy's long wait. */
  idleMs: number;
}

/** Who a request's token is: the user acts on their own apps only, as a user (admins too). */
interface Caller {
  login: string;
  tokenId: string;
  actor: Actor;
}

/** A refusal with its status (and headers, e.g. Retry-After): answered `{code, message, hint}`. */
class Refusal extends Error {
  readonly statusCode: number;
  constructor(
    readonly status: number,
    readonly error: BerthError,
    readonly headers: Record<string, string> = {},
  ) {
    super(error.message);
    this.statusCode = status;
  }
}

/** Statuses of the codes a request can meet, other than usage errors (400) and the rest (409). */
const STATUS: Partial<Record<ErrorCode, number>> = {
  TOKEN_INVALID: 401,
  APP_LIMIT: 403,
  IMAGE_NOT_ALLOWED: 403,
  IMAGE_UPLOAD_OFF: 403,
  USER_NOT_ALLOWED: 403,
  APP_NOT_FOUND: 404,
  API_NOT_FOUND: 404,
  API_DISABLED: 404,
  APP_EXISTS: 409,
  APP_BUSY: 409,
  APP_NOT_RUNNING: 409,
  APP_BUILD_FAILED: 422,
  APP_BUILD_TIMEOUT: 422,
  ARCHIVE_UNSAFE: 422,
  ARCHIVE_UNREADABLE: 422,
  ENTRYPOINT_MISSING: 422,
  RUNTIME_UNKNOWN: 422,
  APP_SECRET_MISSING: 422,
  IMAGE_LOAD_FAILED: 422,
  API_RATE_LIMIT: 429,
  API_AUTH_RATE: 429,
  MAINTENANCE: 503,
  APP_BASE_MISSING: 503,
  APPS_NOT_ON_SWARM: 503,
};

/** The status a BerthError is answered with: 400 the request's mistake, 404 nothing of that name, 409 refused as things are. */
export function apiErrorStatus(err: BerthError): number {
  const listed = STATUS[err.code];
  if (listed) return listed;
  if (err.usage || err.code.startsWith('INVALID_')) return 400;
  if (err.code.startsWith('DOCKER_') || err.code.startsWith('ENGINE_') || err.code.startsWith('NODE_')) return 503;
  return err.code.endsWith('_NOT_FOUND') ? 404 : 409;
}

const badRequest = (message: string, hint = 'See docs/apps-api.md, or GET /api/v1/openapi.json.') =>
  new Refusal(400, new BerthError('API_BAD_REQUEST', message, hint));

const tokenInvalid = () =>
  new Refusal(
    401,
    new BerthError(
      'TOKEN_INVALID',
      'This request needs a valid API token: Authorization: Bearer berth_….',
      'Make a token with /token in chat (or ask the operator: berth user token create LOGIN), and send it as a Bearer token.',
    ),
    { 'www-authenticate': 'Bearer realm="berth"' },
  );

/** Multipart requests may carry this much more than the archive (the fields, the parts' headers). */
const MULTIPART_SLACK = 1024 ** 2;
/** A JSON deploy's body may be this many times apps.max-upload (JSON escapes its files' text). */
const JSON_FACTOR = 2;
/** The most of an app's output one logs answer carries (the newest kept). */
const MAX_LOG_CHARS = 512 * 1024;
/** A deploy's answer waits at most apps.build-timeout and this much more (the deploy goes on regardless). */
const DEPLOY_MARGIN_MS = 2 * 60_000;

/** Counts a body's bytes as they come, and fails it (413) past `max`. */
function capped(max: number, refusal: () => Refusal): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > max) done(refusal());
      else done(null, chunk);
    },
  });
}

const tooLarge = (what: string, max: number) =>
  new Refusal(
    413,
    new BerthError(
      'ARCHIVE_UNSAFE',
      `${what} is larger than this host takes (apps.max-upload ${formatSize(max)}).`,
      'Send less: leave out build output and dependencies (berth installs the requirements itself).',
    ),
  );

/** The deploy fields of a multipart/form-data body: the file `archive` and the optional fields. */
async function multipartDeploy(req: FastifyRequest, maxUpload: number): Promise<Omit<DeployInput, 'user' | 'name'>> {
  let archive: Buffer | undefined;
  const env: string[] = [];
  const secrets: string[] = [];
  const out: Omit<DeployInput, 'user' | 'name' | 'source'> = {};
  const known = Object.keys(MULTIPART_FIELDS);
  try {
    const parts = req.parts({
      limits: { fileSize: maxUpload, files: 1, fields: 200, parts: 201, fieldSize: 8 * 1024, fieldNameSize: 64, headerPairs: 50 },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== 'archive') {
          part.file.resume();
          throw badRequest(
            `The file field "${printable(part.fieldname)}" is not one the deploy takes.`,
            'Send the code as the file field archive.',
          );
        }
        archive = await part.toBuffer();
        continue;
      }
      const value = String(part.value ?? '');
      if (part.valueTruncated) throw badRequest(`The field ${printable(part.fieldname)} is longer than 8 KiB.`);
      switch (part.fieldname) {
        case 'runtime':
          if (!(APP_RUNTIMES as readonly string[]).includes(value))
            throw badRequest(`"${printable(value)}" is not a runtime.`, `Give one of ${APP_RUNTIMES.join(', ')}.`);
          out.runtime = value as AppRuntime;
          break;
        case 'entrypoint':
          out.entrypoint = value;
          break;
        case 'env':
          env.push(value);
          break;
        case 'secret':
          secrets.push(value);
          break;
        case 'port':
          if (!/^\d{1,5}$/.test(value))
            throw badRequest(`"${printable(value)}" is not a port.`, 'Give the port the app listens on, 1–65535.');
          out.port = Number(value);
          break;
        case 'replace':
          if (value !== 'true' && value !== 'false') throw badRequest(`replace is "${printable(value)}".`, 'Give replace=true (or false).');
          out.replace = value === 'true';
          break;
        default:
          throw badRequest(
            `The field "${printable(part.fieldname)}" is not one the deploy takes.`,
            `It takes archive and ${known.join(', ')}.`,
          );
      }
    }
  } catch (err) {
    if (err instanceof Refusal) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge('The archive', maxUpload);
    if (code === 'FST_FILES_LIMIT') throw badRequest('The deploy takes one file, archive.');
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') throw badRequest('The deploy has too many fields.');
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) throw badRequest(`The multipart body could not be read (${(err as Error).message}).`);
    throw err;
  }
  if (!archive)
    throw badRequest(
      'The deploy has no file field archive.',
      'Send the code as a tar.gz or zip: curl -F archive=@app.tgz … (tar czf app.tgz -C folder .).',
    );
  return {
    ...out,
    source: { kind: 'archive', data: archive },
    ...(env.length ? { env } : {}),
    ...(secrets.length ? { secrets } : {}),
  };
}

/** The deploy fields of a JSON body. */
function jsonDeploy(body: unknown): Omit<DeployInput, 'user' | 'name'> {
  const parsed = JsonDeploySchema.safeParse(body);
  if (!parsed.success) throw badRequest(`The deploy is not as the API takes it: ${issuesLine('body', parsed.error.issues).slice(0, 500)}.`);
  const d = parsed.data;
  const sources = [d.files || d.requirements !== undefined ? 'files' : null, d.git ? 'git' : null, d.image !== undefined ? 'image' : null];
  const named = sources.filter((s) => s !== null);
  if (named.length !== 1)
    throw new BerthError(
      'INVALID_APP_SOURCE',
      named.length === 0 ? 'The deploy names no source.' : `The deploy names more than one source (${named.join(', ')}).`,
      'Give exactly one of files (with requirements), git or image.',
    );
  let source: DeployInput['source'];
  if (d.git) source = { kind: 'git', url: d.git.url, branch: d.git.branch ?? 'main' };
  else if (d.image !== undefined) source = { kind: 'image', image: d.image };
  else {
    const files: Record<string, string> = { ...(d.files ?? {}) };
    if (d.requirements !== undefined) {
      if ('requirements.txt' in files)
        throw badRequest('requirements and files["requirements.txt"] are both given.', 'Give the requirements once.');
      files['requirements.txt'] = d.requirements;
    }
    source = { kind: 'files', files };
  }
  return {
    source,
    ...(d.runtime ? { runtime: d.runtime } : {}),
    ...(d.entrypoint !== undefined ? { entrypoint: d.entrypoint } : {}),
    ...(d.env ? { env: Object.entries(d.env).map(([k, v]) => `${k}=${v}`) } : {}),
    ...(d.secrets ? { secrets: d.secrets } : {}),
    ...(d.port !== undefined ? { port: d.port } : {}),
    ...(d.replace !== undefined ? { replace: d.replace } : {}),
  };
}

/**
 * The HTTP API for users' tokens (their CI), registered under /api/v1 on the web server's
 * fastify: every route but the description needs `Authorization: Bearer TOKEN`, whose user acts
 * on their own apps only. Refusals are `{code, message, hint}` JSON with a status that says what
 * kind they are (apiErrorStatus). Bodies are bounded (a deploy's by apps.max-upload, the rest by
 * the server's 16 KiB), requests are counted per token, deploys per user and requests without a
 * valid token per source address (ApiLimits), and each change is audited.
 */
export function appsApi(options: AppsApiOptions) {
  const { ctx, log, metrics, source, note } = options;
  const limits = new ApiLimits();
  const callers = new WeakMap<FastifyRequest, Caller>();
  const config = async (): Promise<ConfigValues> => effectiveConfig((await ctx.store.snapshot()).config);

  const answer = (reply: FastifyReply, status: number, error: BerthError, headers: Record<string, string> = {}) =>
    reply
      .code(status)
      .headers({ ...securityHeaders(), ...headers })
      .send(error.toJSON());

  const slowDown = (seconds: number, error: BerthError) => new Refusal(429, error, { 'retry-after': String(seconds) });

  /** The token's user, or a refusal: checked before a body is read. */
  const authenticate = async (req: FastifyRequest): Promise<Caller> => {
    const state = await ctx.store.snapshot();
    const cfg = effectiveConfig(state.config);
    const from = source(req.raw);
    const key = sourceKey(from);
    const blocked = await limits.authFailures.waiting(key, cfg);
    if (blocked !== null) {
      metrics.refusals.inc({ reason: 'api-auth-rate' });
      note(from, 'api-auth-rate', 'API requests refused: too many without a valid token from this address');
      throw slowDown(
        blocked,
        new BerthError(
          'API_AUTH_RATE',
          'Too many requests without a valid token came from your address.',
          `Wait ${blocked} s, and check the token you send.`,
        ),
      );
    }
    const header = req.headers.authorization;
    const presented = typeof header === 'string' && header.length < 256 ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
    const found = presented ? verifyApiToken(state, presented) : null;
    if (!found) {
      await limits.authFailures.take(key, cfg);
      metrics.refusals.inc({ reason: 'api-token' });
      note(from, 'api-token', 'API request refused: no valid token');
      throw tokenInvalid();
    }
    const login = found.user.login;
    const wait = await limits.requests.take(`${login}\0${found.tokenId}`, cfg);
    if (wait !== null) {
      metrics.refusals.inc({ reason: 'api-rate' });
      note(from, 'api-rate', 'API requests refused: over web.api-rate', { user: login, tokenId: found.tokenId });
      throw slowDown(
        wait,
        new BerthError(
          'API_RATE_LIMIT',
          `This token made more than ${cfg['web.api-rate']} requests in a minute.`,
          `Wait ${wait} s; the operator sets the limit (web.api-rate).`,
        ),
      );
    }
    touchApiToken(ctx.store, login, found.tokenId).catch((err) => log.warn({ err: String(err) }, 'API token use not recorded'));
    return { login, tokenId: found.tokenId, actor: loginActor(login, 'user') };
  };

  /** The app `:name` of the caller's own, as a ref only they can mean. */
  const ref = (caller: Caller, name: string) => `${caller.login}/${checkAppName(name)}`;
  const view = (app: App) => appView(app, describeSource(app.source));

  return async function plugin(api: FastifyInstance): Promise<void> {
    await api.register(multipart, { limits: { files: 1, fields: 200, parts: 201 } });

    api.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      if (err instanceof Refusal) return answer(reply, err.status, err.error, err.headers);
      if (err instanceof BerthError) return answer(reply, apiErrorStatus(err), err);
      const status = err.statusCode;
      if (status && status >= 400 && status < 500) {
        const message =
          status === 413
            ? 'The request body is larger than this route takes.'
            : status === 415
              ? 'The body is neither application/json nor multipart/form-data.'
              : `The request could not be read (${err.message.slice(0, 200)}).`;
        return answer(reply, status, new BerthError('API_BAD_REQUEST', message, 'See docs/apps-api.md, or GET /api/v1/openapi.json.'));
      }
      log.warn({ err: String(err), route: `${req.method} ${req.routeOptions.url ?? req.url.slice(0, 80)}` }, 'API request failed');
      return answer(
        reply,
        500,
        new BerthError('DAEMON_ERROR', 'berth failed to answer this request.', 'Try again; the operator can see why in the daemon log.'),
      );
    });
    api.setNotFoundHandler((req, reply) =>
      answer(
        reply,
        404,
        new BerthError(
          'API_NOT_FOUND',
          `The API has no ${req.method} ${printable(req.url.split('?')[0]?.slice(0, 80) ?? '')}.`,
          'See GET /api/v1/openapi.json for its routes.',
        ),
      ),
    );

    // Off (web.api off): every route, the description too, is a 404; the token is not looked at.
    api.addHook('onRequest', async (req) => {
      if (!(await config())['web.api'])
        throw new Refusal(
          404,
          new BerthError('API_DISABLED', 'The HTTP API is turned off on this host.', 'Ask the operator (berth config set web.api on).'),
        );
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const route = API_ROUTES.find((r) => `${API_PREFIX}${r.path}` === req.routeOptions.url && r.method === method) as
        | ApiRoute
        | undefined;
      if (!route || route.open) return;
      callers.set(req, await authenticate(req));
    });

    const caller = (req: FastifyRequest): Caller => {
      const found = callers.get(req);
      if (!found) throw tokenInvalid();
      return found;
    };

    /** One audit line per change: who (user, token, address), what, how it ended. */
    const audited = async <T>(req: FastifyRequest, route: ApiRoute, name: string, work: () => Promise<T>, extra = {}): Promise<T> => {
      const who = caller(req);
      const started = Date.now();
      const line = (outcome: string, code?: string) =>
        apiAudit(log, {
          user: who.login,
          tokenId: who.tokenId,
          source: source(req.raw),
          route: `${route.method} ${API_PREFIX}${route.path}`,
          app: `${who.login}/${printable(name).slice(0, 40)}`,
          outcome,
          ...(code ? { code } : {}),
          ms: Date.now() - started,
          ...extra,
        });
      try {
        const done = await work();
        line('ok');
        return done;
      } catch (err) {
        line('refused', err instanceof Refusal ? err.error.code : err instanceof BerthError ? err.code : 'error');
        throw err;
      }
    };

    type Named = { Params: { name: string } };
    const find = (method: string, path: string) => API_ROUTES.find((r) => r.method === method && r.path === path) as ApiRoute;

    api.get('/openapi.json', async (_req, reply) =>
      reply.headers({ ...securityHeaders(), 'content-type': 'application/json; charset=utf-8' }).send(openApiDocument()),
    );

    api.get('/apps', async (req, reply) => {
      const who = caller(req);
      const apps = await listApps(ctx, { user: who.login }, who.actor);
      return reply.headers(securityHeaders()).send(apps.map(view));
    });

    api.get<Named>('/apps/:name', async (req, reply) => {
      const who = caller(req);
      return reply.headers(securityHeaders()).send(view(await getApp(ctx, ref(who, req.params.name), who.actor)));
    });

    api.get<Named & { Querystring: { lines?: string } }>('/apps/:name/logs', async (req, reply) => {
      const who = caller(req);
      const asked = req.query.lines;
      if (asked !== undefined && !(/^\d{1,4}$/.test(asked) && Number(asked) >= 1 && Number(asked) <= MAX_LOG_LINES))
        throw badRequest(`lines=${printable(String(asked)).slice(0, 20)} is not a number of lines.`, `Ask for 1 to ${MAX_LOG_LINES}.`);
      const text = await appLogText(ctx, ref(who, req.params.name), Number(asked ?? DEFAULT_LOG_LINES), who.actor, MAX_LOG_CHARS);
      return reply.headers({ ...securityHeaders(), 'content-type': 'text/plain; charset=utf-8' }).send(text);
    });

    for (const [path, act] of [
      ['/apps/:name/stop', stopApp],
      ['/apps/:name/start', startApp],
      ['/apps/:name/restart', restartApp],
    ] as const) {
      const route = find('POST', path);
      api.post<Named>(path, async (req, reply) => {
        const who = caller(req);
        const app = await audited(req, route, req.params.name, () => act(ctx, ref(who, req.params.name), who.actor));
        return reply.headers(securityHeaders()).send(view(app));
      });
    }

    const removal = find('DELETE', '/apps/:name');
    api.delete<Named>('/apps/:name', async (req, reply) => {
      const who = caller(req);
      const app = await audited(req, removal, req.params.name, () => removeApp(ctx, ref(who, req.params.name), who.actor));
      return reply.headers(securityHeaders()).send({ removed: `${app.user}/${app.name}`, id: app.id });
    });

    // The deploy: its body is bounded by apps.max-upload as the config says now (fastify's own
    // limit is set out of the way and this hook enforces the current one); the answer waits for
    // the deploy, at most apps.build-timeout and a margin; a client that goes away leaves it going.
    const deployRoute = find('POST', '/apps/:name/deploy');
    /** Users with a deploy being received or built (at most one each). */
    const deploying = new Set<string>();
    const takeDeploy = async (login: string) => {
      const cfg = await config();
      const wait = await limits.deploys.take(login, cfg);
      if (wait === null) return;
      metrics.refusals.inc({ reason: 'api-deploy-rate' });
      throw slowDown(
        wait,
        new BerthError(
          'API_RATE_LIMIT',
          `You asked for ${cfg['web.api-deploy-rate']} deploys within the last hour, as many as this host allows.`,
          `Wait ${Math.ceil(wait / 60)} min; the operator sets the limit (web.api-deploy-rate).`,
        ),
      );
    };
    api.post<Named>(
      '/apps/:name/deploy',
      {
        bodyLimit: 2 ** 31,
        preParsing: async (req, reply, payload) => {
          // Before a byte of the body is read: the hourly deploy limit is taken, and a user has
          // one deploy body (and its deploy) in flight at a time — bodies held in memory are bounded
          // by users, not by requests.
          const who = caller(req);
          if (deploying.has(who.login))
            throw new BerthError(
              'APP_BUSY',
              'Another deploy of yours is still being received or built.',
              'Wait for its answer, then deploy again.',
            );
          await takeDeploy(who.login);
          deploying.add(who.login);
          reply.raw.once('close', () => deploying.delete(who.login));
          const max = (await config())['apps.max-upload'];
          const declared = Number(req.headers['content-length'] ?? 0);
          if (req.isMultipart()) {
            if (declared > max + MULTIPART_SLACK) throw tooLarge('The request', max);
            return payload;
          }
          const cap = max * JSON_FACTOR + 64 * 1024;
          if (declared > cap) throw tooLarge('The request', max);
          return payload.pipe(capped(cap, () => tooLarge('The request', max)));
        },
      },
      async (req, reply) => {
        const who = caller(req);
        const name = checkAppName(req.params.name);
        const cfg = await config();
        const input = req.isMultipart() ? await multipartDeploy(req, cfg['apps.max-upload']) : jsonDeploy(req.body);
        const deadlineMs = cfg['apps.build-timeout'] * 1000 + DEPLOY_MARGIN_MS;
        req.raw.socket.setTimeout(deadlineMs + 30_000);
        const app = await audited(
          req,
          deployRoute,
          name,
          async () => {
            const deploying = deployApp(ctx, { ...input, user: who.login, name }, who.actor);
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<never>((_, reject) => {
              timer = setTimeout(
                () =>
                  reject(
                    new Refusal(
                      504,
                      new BerthError(
                        'APP_BUSY',
                        `The deploy of ${who.login}/${name} is still under way.`,
                        `It goes on: see GET ${API_PREFIX}/apps/${name} for how it ends.`,
                      ),
                    ),
                  ),
                deadlineMs,
              );
            });
            deploying.catch((err) => {
              if (!(err instanceof BerthError)) log.warn({ err: String(err), app: `${who.login}/${name}` }, 'API deploy failed');
            });
            try {
              return await Promise.race([deploying, late]);
            } finally {
              clearTimeout(timer);
            }
          },
          { from: input.source.kind },
        );
        return reply.code(201).headers(securityHeaders()).send(view(app));
      },
    );

    api.addHook('onResponse', async (req) => {
      if (req.routeOptions.url === `${API_PREFIX}/apps/:name/deploy`) req.raw.socket?.setTimeout(options.idleMs);
    });
  };
}
