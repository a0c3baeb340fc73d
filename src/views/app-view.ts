import { z } from 'zod';
import { appRef } from '../domain/apps.js';
import { APP_RUNTIMES, APP_SOURCE_KINDS, APP_STATUSES, type App } from '../state/schema.js';
import { formatDuration } from '../values/durations.js';
import { formatSize } from '../values/sizes.js';

/** Where an app's code came from: the kind, a line for people, and the kind's own fields. */
export const AppSourceViewSchema = z.object({
  kind: z.enum(APP_SOURCE_KINDS),
  /** e.g. `https://github.com/alice/bot.git (main)`, `the VM main, /home/alice/bot`. */
  description: z.string(),
  runtime: z.enum(APP_RUNTIMES).nullable(),
  entrypoint: z.string().nullable(),
  url: z.string().nullable(),
  branch: z.string().nullable(),
  vm: z.string().nullable(),
  path: z.string().nullable(),
  image: z.string().nullable(),
});

/**
 * The machine shape of an app in `--json` output. Secrets appear as names only: which variable
 * is filled from which of the owner's secrets, never a value (the record holds none either).
 */
export const AppViewSchema = z.object({
  /** USER/NAME. */
  ref: z.string(),
  id: z.string(),
  user: z.string(),
  name: z.string(),
  plan: z.string(),
  /** What berth wants: running or stopped. */
  desired: z.enum(['running', 'stopped']),
  status: z.enum(APP_STATUSES),
  source: AppSourceViewSchema,
  /** The image it runs; null before its first build. */
  image: z.string().nullable(),
  /** Plain variables, with their values (they are not secrets). */
  env: z.record(z.string(), z.string()),
  /** Variables filled from the owner's secrets when it starts: the variable and the secret's name. */
  secrets: z.array(z.object({ env: z.string(), name: z.string() })),
  /** The port its web server listens on (given to it as PORT); null: none. */
  port: z.number().nullable(),
  cpu: z.number(),
  ram: z.string(),
  ramBytes: z.number(),
  pids: z.number(),
  /** e.g. `24h`; `0` = no limit. */
  lifetime: z.string(),
  lifetimeSeconds: z.number(),
  containerId: z.string().nullable(),
  /** On Swarm: the node it runs on. */
  node: z.string().nullable(),
  createdAt: z.string(),
  deployedAt: z.string(),
  startedAt: z.string().nullable(),
  stoppedAt: z.string().nullable(),
  /** Why it was last stopped: operator, user, maintenance, lifetime, crashed, revoked. */
  stopReason: z.string().nullable(),
  /** When berth stops it for its plan's lifetime (running apps with a lifetime). */
  stopsAt: z.string().nullable(),
  /** Restarts after crashes since it was deployed or started by hand. */
  restarts: z.number(),
  /** status restarting: when berth starts it again. */
  restartAt: z.string().nullable(),
  /** Crashes within the last hour, as recorded. */
  crashes: z.array(z.string()),
  lastExitCode: z.number().nullable(),
  oomKilledAt: z.string().nullable(),
  /** The last build: when, how long, how it ended and (failed, timeout) its last lines. */
  build: z
    .object({
      at: z.string(),
      seconds: z.number(),
      outcome: z.enum(['ok', 'failed', 'timeout']),
      tail: z.string().nullable(),
    })
    .nullable(),
});
export type AppView = z.infer<typeof AppViewSchema>;

/** An app just removed. */
export const AppRemovedViewSchema = z.object({ removed: z.string(), id: z.string() });
export type AppRemovedView = z.infer<typeof AppRemovedViewSchema>;

/** The view of an app; `sourceText` is the service's description of its source (describeSource). */
export function appView(app: App, sourceText: string): AppView {
  const s = app.source;
  const stopsAt =
    app.status === 'running' && app.lifetimeSeconds > 0 && app.startedAt
      ? new Date(Date.parse(app.startedAt) + app.lifetimeSeconds * 1000).toISOString()
      : null;
  return {
    ref: appRef(app),
    id: app.id,
    user: app.user,
    name: app.name,
    plan: app.plan,
    desired: app.desired,
    status: app.status,
    source: {
      kind: s.kind,
      description: sourceText,
      runtime: s.runtime ?? null,
      entrypoint: s.entrypoint ?? null,
      url: s.url ?? null,
      branch: s.branch ?? null,
      vm: s.vm ?? null,
      path: s.path ?? null,
      image: s.image ?? null,
    },
    image: app.image,
    env: { ...app.env },
    // Names only, field by field: nothing else of a secret ever reaches a view.
    secrets: app.secrets.map(({ env, name }) => ({ env, name })),
    port: app.port ?? null,
    cpu: app.resources.cpu,
    ram: formatSize(app.resources.memoryBytes),
    ramBytes: app.resources.memoryBytes,
    pids: app.resources.pids,
    lifetime: formatDuration(app.lifetimeSeconds),
    lifetimeSeconds: app.lifetimeSeconds,
    containerId: app.containerId,
    node: app.node ?? null,
    createdAt: app.createdAt,
    deployedAt: app.deployedAt,
    startedAt: app.startedAt ?? null,
    stoppedAt: app.stoppedAt ?? null,
    stopReason: app.stopReason ?? null,
    stopsAt,
    restarts: app.restarts,
    restartAt: app.restartAt ?? null,
    crashes: [...app.crashes],
    lastExitCode: app.lastExitCode ?? null,
    oomKilledAt: app.oomKilledAt ?? null,
    build: app.build ? { at: app.build.at, seconds: app.build.seconds, outcome: app.build.outcome, tail: app.build.tail ?? null } : null,
  };
}
