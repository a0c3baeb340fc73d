import { z } from 'zod';
import { BerthError, type ErrorCode, invalidInput } from '../../errors.js';

/**
 * The daemon's control API (`$BERTH_HOME/berth.sock`), as both sides see it: daemon/api.ts
 * registers these routes and src/services/control/daemon-control.ts `callDaemon` calls them. A refusal is
 * the `BerthError` JSON `{code, message, hint}` with a 4xx status (`apiStatus`); the client
 * rebuilds the same `BerthError`.
 */

export type ComponentName = 'api' | 'scheduler' | 'events' | 'nodes' | 'telegram' | 'discord' | 'ssh' | 'web' | 'firewall';
export interface ComponentStatus {
  name: ComponentName;
  state: 'starting' | 'running' | 'disabled' | 'failed';
  detail: string;
  lastError: string | null;
  since: string;
}

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  version: string | null;
  startedAt: string | null;
  uptimeSeconds: number | null;
  socket: string;
  components: ComponentStatus[];
  maintenance: { on: boolean; reason: string; until: string | null } | null;
}

/** The bot as the daemon runs it (`berth telegram status`). */
export interface DaemonTelegram {
  running: boolean;
  detail?: string;
  bot?: { username: string; lastUpdateAt: string | null; mode: 'polling' | 'webhook' };
}

/** The Discord bot as the daemon runs it (`berth discord status`). */
export interface DaemonDiscord {
  running: boolean;
  detail?: string;
  bot?: { username: string; guilds: number; lastInteractionAt: string | null };
}

export type SessionKind = 'shell' | 'exec' | 'subsystem' | 'forward' | 'remote-forward' | 'web-terminal' | 'web-app' | 'agent';

/** One open session, of the SSH gateway or the web server (GET /ssh/sessions; `berth sessions`). */
export interface SshSessionView {
  id: string;
  user: string;
  /** The VM ref, `alice/main`. */
  vm: string;
  /** The key the user logged in with. */
  fingerprint: string;
  /** The client's address. */
  source: string;
  kind: SessionKind;
  /**
   * The command (exec), `sftp` (subsystem), `localhost:PORT` (forward), the VM's `127.0.0.1:PORT`
   * (remote-forward) or `port PORT` (web-app: a WebSocket to the VM's web app).
   */
  command?: string;
  startedAt: string;
  bytesIn: number;
  bytesOut: number;
  /** The session's recording (`berth sessions replay ID`), when it is recorded. */
  recording?: string;
}

const SESSION_ID = /^[0-9a-f]{12}$/;

/** A session id as `berth ssh kill` and the daemon take it: 12 hex digits. */
export function checkSessionId(input: string): string {
  if (!SESSION_ID.test(input)) {
    throw invalidInput(
      'INVALID_SESSION_ID',
      `"${input.slice(0, 40)}" is not a session id.`,
      'Session ids are 12 hex digits; see them with: berth ssh sessions',
    );
  }
  return input;
}

export function sessionNotFound(id: string): BerthError {
  return new BerthError('SESSION_NOT_FOUND', `There is no open SSH session ${id}.`, 'See the open sessions with: berth ssh sessions');
}

/** One route: how it is asked, what it takes (checked by the daemon with zod) and what it answers. */
export interface Route<Params, Body, Reply> {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** fastify's syntax: `/ssh/sessions/:id`. */
  readonly path: string;
  readonly params: z.ZodType<Params> | null;
  readonly body: z.ZodType<Body> | null;
  /** `json` answers, or `text` (/metrics, in Prometheus' format). */
  readonly answers: 'json' | 'text';
  /** Only a type (never set): what the route answers. */
  readonly reply?: Reply;
}

function route<Reply, Params = undefined, Body = undefined>(spec: {
  method: Route<Params, Body, Reply>['method'];
  path: string;
  params?: z.ZodType<Params>;
  body?: z.ZodType<Body>;
  answers?: 'json' | 'text';
}): Route<Params, Body, Reply> {
  return { method: spec.method, path: spec.path, params: spec.params ?? null, body: spec.body ?? null, answers: spec.answers ?? 'json' };
}

/** A one-time link the daemon minted (its ticket lives in the daemon's memory only). */
export interface WebLink {
  url: string;
  expiresAt: string;
  vm: string;
  /** Where it lands on berth's origin: the terminal page, the app's path, or the route into the app's own origin. */
  path: string;
  /** The app's own origin (with web.apps-domain), where the link ends. */
  app?: string;
}

/** A one-time link into a user's app (`berth app url`, the chat's /app). */
export interface AppWebLink {
  /** The one-time link: open it once, within 60 s. */
  url: string;
  expiresAt: string;
  /** USER/NAME. */
  app: string;
  /** Where it lands on berth's origin: `/apps/USER/NAME` (into the app's own origin). */
  path: string;
  /** The app's own address, `SCHEME://app--NAME--USER.APPS_DOMAIN/`. */
  address: string;
  /** Anyone may open the address without a link (the owner's plan allows public apps). */
  public: boolean;
}

/** A one-time link to a session recording's replay page (`berth sessions replay ID --web`, the chat's /replay). */
export interface RecordingLink {
  /** The one-time link: open it once, within 60 s. */
  url: string;
  expiresAt: string;
  /** The recording's id. */
  recording: string;
}

const RecordingLinkAsk = z.object({ id: z.string().max(64) }).strict();

/** A one-time link that downloads a snapshot of a home as .tar.gz (`berth home backups HOME --download ID`, the chat's Download button). */
export interface BackupLink {
  /** The one-time link: open it once, within 60 s. */
  url: string;
  expiresAt: string;
  /** The home's id. */
  home: string;
  /** The snapshot's short id. */
  snapshot: string;
}

const BackupLinkAsk = z.object({ home: z.string().max(64), snapshot: z.string().max(64) }).strict();

const AppWebLinkAsk = z.object({ app: z.string().max(100) }).strict();

const WebLinkAsk = z.object({ vm: z.string().max(200), port: z.string().max(10).optional(), strip: z.boolean().optional() }).strict();

/** No parameters: no body, or an empty JSON object. */
const NoBody = z.object({}).strict().optional();

export const ROUTES = {
  health: route<{ ok: true; pid: number }>({ method: 'GET', path: '/health' }),
  status: route<DaemonStatus>({ method: 'GET', path: '/status' }),
  telegram: route<DaemonTelegram>({ method: 'GET', path: '/telegram' }),
  discord: route<DaemonDiscord>({ method: 'GET', path: '/discord' }),
  metrics: route<string>({ method: 'GET', path: '/metrics', answers: 'text' }),
  sshSessions: route<{ sessions: SshSessionView[] }>({ method: 'GET', path: '/ssh/sessions' }),
  /** Closes the gateway connections whose access was withdrawn, now. */
  sshRevalidate: route<{ closed: number }, undefined, z.infer<typeof NoBody>>({ method: 'POST', path: '/ssh/revalidate', body: NoBody }),
  /** `berth vm web-terminal` / `berth vm url`: a one-time link to a VM's terminal or one of its ports. */
  webLink: route<WebLink, undefined, z.infer<typeof WebLinkAsk>>({ method: 'POST', path: '/web/links', body: WebLinkAsk }),
  /** `berth app url`: a one-time link into a user's app. */
  appWebLink: route<AppWebLink, undefined, z.infer<typeof AppWebLinkAsk>>({ method: 'POST', path: '/web/app-links', body: AppWebLinkAsk }),
  /** `berth sessions replay ID --web`: a one-time link to a recording's replay page, for the operator. */
  recordingLink: route<RecordingLink, undefined, z.infer<typeof RecordingLinkAsk>>({
    method: 'POST',
    path: '/web/recording-links',
    body: RecordingLinkAsk,
  }),
  /** `berth home backups HOME --download ID`: a one-time link that downloads a snapshot, for the operator. */
  backupLink: route<BackupLink, undefined, z.infer<typeof BackupLinkAsk>>({
    method: 'POST',
    path: '/web/backup-links',
    body: BackupLinkAsk,
  }),
  sshKill: route<{ killed: string }, { id: string }>({
    method: 'DELETE',
    path: '/ssh/sessions/:id',
    // The id itself is checked by checkSessionId, on both sides, for one refusal (INVALID_SESSION_ID).
    params: z.object({ id: z.string() }).strict(),
  }),
} as const;

/** What a caller gives a route: its path parameters (when it has any) and its body. */
export type RouteInput<Params, Body> = (undefined extends Params ? { params?: Params } : { params: Params }) & { body?: Body };

/** The path asked for, `:name` filled in from `params`. */
export function routePath<P, B, R>(spec: Route<P, B, R>, params: P | undefined): string {
  return spec.path.replace(/:([a-z]+)/g, (_, name: string) =>
    encodeURIComponent(String((params as Record<string, unknown>)?.[name] ?? '')),
  );
}

/** The status a refusal is answered with: 400 bad input, 404 nothing of that name, 409 refused as things are. */
export function apiStatus(err: BerthError): number {
  if (err.usage) return 400;
  return err.code === 'NOT_FOUND' || err.code.endsWith('_NOT_FOUND') ? 404 : 409;
}

const ErrorJson = z.object({ code: z.string().min(1), message: z.string(), hint: z.string() });

/** The `BerthError` an error answer carries, rebuilt as the daemon threw it; null when the answer is not one. */
export function errorFromAnswer(status: number, body: string): BerthError | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const parsed = ErrorJson.safeParse(json);
  if (!parsed.success) return null;
  // The code the daemon threw, passed on as it is: a daemon of another berth version may know codes this one does not.
  const code = parsed.data.code as ErrorCode;
  return new BerthError(code, parsed.data.message, parsed.data.hint, status === 400);
}

/** A request the daemon refuses before any handler runs (`asked`: `POST /ssh/revalidate`): what was wrong with it. */
export function badRequest(asked: string, detail: string): BerthError {
  return invalidInput(
    'BAD_REQUEST',
    `The daemon refused ${asked}: ${detail.replace(/\.$/, '')}.`,
    'berth and its daemon may be different versions: restart the daemon (berth daemon stop && berth daemon start).',
  );
}

/** zod's issues with a request's `params` or `body`, as one line. */
export const issuesLine = (what: string, issues: z.ZodIssue[]) =>
  issues.map((i) => `${[what, ...i.path].join('.')}: ${i.message}`).join('; ');
