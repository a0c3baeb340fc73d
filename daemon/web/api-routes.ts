import { z } from 'zod';
import { APP_RUNTIMES } from '../../src/state/schema.js';

/*
 * The HTTP API's routes (users' tokens, `/api/v1`), listed once: the server registers a handler
 * for each (apps-api.ts) and the OpenAPI description is made from the same list (api-openapi.ts).
 */

export const API_PREFIX = '/api/v1';

/** What a route answers: an app, a list of them, a removal, the app's output as text, or the description itself. */
export type ApiAnswer = 'app' | 'apps' | 'removed' | 'logs' | 'openapi';

export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** Under API_PREFIX, fastify's form (`:name`). */
  path: string;
  summary: string;
  answer: ApiAnswer;
  /** 200 unless said. */
  status?: number;
  /** Changes something: audited (one line in the daemon log per request). */
  changes?: boolean;
  /** Needs no token (the description). */
  open?: boolean;
  /** Takes the deploy body (JSON or multipart). */
  deploy?: boolean;
}

export const API_ROUTES = [
  { method: 'GET', path: '/openapi.json', summary: 'This description of the API (no token needed)', answer: 'openapi', open: true },
  { method: 'GET', path: '/apps', summary: "The token's user's apps", answer: 'apps' },
  { method: 'GET', path: '/apps/:name', summary: 'One of them', answer: 'app' },
  {
    method: 'GET',
    path: '/apps/:name/logs',
    summary: "The app's last lines of output (?lines=N, 1–2000, default 100), as text",
    answer: 'logs',
  },
  {
    method: 'POST',
    path: '/apps/:name/deploy',
    summary:
      'Deploys the app (new, or with replace a new build of it): an archive as multipart/form-data, or files, a git repository or an allowed image as JSON. Answers when it runs, or with why it did not',
    answer: 'app',
    status: 201,
    changes: true,
    deploy: true,
  },
  { method: 'POST', path: '/apps/:name/stop', summary: 'Stops the app', answer: 'app', changes: true },
  { method: 'POST', path: '/apps/:name/start', summary: 'Starts the app again', answer: 'app', changes: true },
  { method: 'POST', path: '/apps/:name/restart', summary: 'Restarts the app', answer: 'app', changes: true },
  { method: 'DELETE', path: '/apps/:name', summary: 'Removes the app: its container and its image', answer: 'removed', changes: true },
] as const satisfies readonly ApiRoute[];

/** Lines of output one logs request may ask for, and the default. */
export const MAX_LOG_LINES = 2000;
export const DEFAULT_LOG_LINES = 100;

/** The JSON deploy: exactly one source (files, git or image) and how to run it. */
export const JsonDeploySchema = z
  .object({
    files: z.record(z.string(), z.string()).describe('File name (a relative path) → its content.').optional(),
    requirements: z.string().describe('Written as requirements.txt beside the files (Python).').optional(),
    git: z
      .object({ url: z.string(), branch: z.string().optional() })
      .strict()
      .describe('A git repository (https) and its branch (default main), cloned in the build sandbox.')
      .optional(),
    image: z.string().describe('An image the operator allows (apps.images).').optional(),
    runtime: z.enum(APP_RUNTIMES).describe('Default: told from the files.').optional(),
    entrypoint: z
      .string()
      .describe("The file to run, relative to the app's folder (default: main.py, bot.py, app.py, index.js or package.json's start).")
      .optional(),
    env: z.record(z.string(), z.string()).describe('Plain variables: NAME → value.').optional(),
    secrets: z.array(z.string()).describe("The owner's secrets given to it: NAME (as the variable NAME) or VAR=name.").optional(),
    port: z.number().int().describe('The port its web server listens on (given to it as PORT).').optional(),
    replace: z.boolean().describe('Replace the app of that name: the old one runs until the new build is ready.').optional(),
  })
  .strict();
export type JsonDeploy = z.infer<typeof JsonDeploySchema>;

/** The multipart deploy's fields besides the file `archive`. */
export const MULTIPART_FIELDS = {
  runtime: 'python or node (default: guessed from the files)',
  entrypoint: 'the file to run, relative to the archive’s root',
  env: 'NAME=value, once per variable',
  secret: 'NAME or VAR=name of one of your secrets, once per secret',
  port: 'the port its web server listens on (given to it as PORT)',
  replace: 'true: replace the app of that name',
} as const;
