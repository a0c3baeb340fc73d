import { AppRemovedViewSchema, AppViewSchema } from '../../src/views/app-view.js';
import { jsonSchemaOf } from '../../src/views/json-schema.js';
import {
  API_PREFIX,
  API_ROUTES,
  type ApiRoute,
  DEFAULT_LOG_LINES,
  JsonDeploySchema,
  MAX_LOG_LINES,
  MULTIPART_FIELDS,
} from './api-routes.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const ErrorSchema = {
  type: 'object',
  properties: {
    code: { type: 'string', description: 'Stable; each listed with its meaning in docs/errors.md.' },
    message: { type: 'string', description: 'What is wrong.' },
    hint: { type: 'string', description: 'How to fix it.' },
  },
  required: ['code', 'message', 'hint'],
  additionalProperties: false,
};

const refusal = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });

/** The refusals each route may give besides its own. */
const COMMON = {
  '401': refusal('TOKEN_INVALID: no token, or one that is malformed, unknown, revoked or of a user without access.'),
  '429': {
    ...refusal('API_RATE_LIMIT (web.api-rate a minute per token; web.api-deploy-rate deploys an hour per user) or API_AUTH_RATE.'),
    headers: { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } },
  },
};

function answerOf(route: ApiRoute): Record<string, unknown> {
  const status = String(route.status ?? 200);
  const json = (schema: unknown, description: string) => ({ [status]: { description, content: { 'application/json': { schema } } } });
  switch (route.answer) {
    case 'apps':
      return json({ type: 'array', items: ref('App') }, 'The apps.');
    case 'app':
      return json(ref('App'), route.status === 201 ? 'Deployed: it runs.' : 'The app as it is now.');
    case 'removed':
      return json(ref('AppRemoved'), 'Removed.');
    case 'logs':
      return { [status]: { description: 'Its output, the newest lines last.', content: { 'text/plain': { schema: { type: 'string' } } } } };
    case 'openapi':
      return json({ type: 'object' }, 'This document.');
  }
}

function operation(route: ApiRoute): Record<string, unknown> {
  const parameters: unknown[] = [];
  if (route.path.includes(':name'))
    parameters.push({
      name: 'name',
      in: 'path',
      required: true,
      description: 'The app’s name (one of the token’s user’s apps).',
      schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' },
    });
  if (route.answer === 'logs')
    parameters.push({
      name: 'lines',
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: MAX_LOG_LINES, default: DEFAULT_LOG_LINES },
    });
  const responses: Record<string, unknown> = { ...answerOf(route) };
  if (!route.open) Object.assign(responses, COMMON);
  if (route.path.includes(':name')) responses['404'] = refusal('APP_NOT_FOUND: the user has no app of that name.');
  if (route.changes && route.answer !== 'removed') responses['409'] = refusal('APP_BUSY, APP_EXISTS, APP_NOT_RUNNING, MAINTENANCE….');
  if (route.deploy) {
    responses['400'] = refusal('API_BAD_REQUEST, INVALID_APP_SOURCE, INVALID_ENV…: the request is malformed.');
    responses['403'] = refusal('APP_LIMIT (the plan allows no more apps), IMAGE_NOT_ALLOWED.');
    responses['413'] = refusal('ARCHIVE_UNSAFE: the body is larger than apps.max-upload allows.');
    responses['422'] = refusal(
      'APP_BUILD_FAILED (the message ends with the build’s last lines), APP_BUILD_TIMEOUT, ARCHIVE_UNSAFE (an entry outside the folder), ARCHIVE_UNREADABLE, ENTRYPOINT_MISSING, RUNTIME_UNKNOWN, APP_SECRET_MISSING.',
    );
    responses['504'] = refusal('APP_BUSY: the deploy took longer than apps.build-timeout and a margin; it goes on.');
  }
  const op: Record<string, unknown> = {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[/:.](\w)/g, (_, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    ...(route.open ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    responses,
  };
  if (route.deploy)
    op.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: {
              archive: { type: 'string', format: 'binary', description: 'The code: a tar.gz, tar or zip, at most apps.max-upload.' },
              ...Object.fromEntries(
                Object.entries(MULTIPART_FIELDS).map(([field, description]) => [
                  field,
                  field === 'env' || field === 'secret'
                    ? { type: 'array', items: { type: 'string' }, description }
                    : { type: 'string', description },
                ]),
              ),
            },
            required: ['archive'],
          },
        },
        'application/json': { schema: ref('Deploy') },
      },
    };
  return op;
}

/** The API's OpenAPI 3.1 description, made from its route list and the views' zod schemas. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES as readonly ApiRoute[]) {
    const path = `${API_PREFIX}${route.path.replace(/:(\w+)/g, '{$1}')}`;
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'berth apps API',
      version: '1',
      description:
        "Deploy and manage your own apps on berth with an API token (make one with /token in chat). A token acts for its user, on that user's apps only. See docs/apps-api.md.",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'berth_<id>_<secret>, from /token in chat.' } },
      schemas: {
        App: jsonSchemaOf(AppViewSchema),
        AppRemoved: jsonSchemaOf(AppRemovedViewSchema),
        Deploy: jsonSchemaOf(JsonDeploySchema),
        Error: ErrorSchema,
      },
    },
  };
}
