/**
 * Users' apps: deployed from a source, built, run in a hardened container of their own through
 * the engine port, kept running (berth restarts them after a crash, with backoff, until the crash
 * limit), stopped, started, removed. Every action checks who asks: a user reaches only their own
 * apps; the operator (and admins' explicit commands) any.
 */

import { appContainerSpec } from '../../docker/app-spec.js';
import { type CleanArchive, cleanArchive } from '../../docker/archive.js';
import { appImageRepo } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { type Actor, mayReach, OPERATOR } from '../../domain/actor.js';
import {
  appFor,
  appLimits,
  appRef,
  checkAppName,
  checkGitSource,
  checkImageAllowed,
  crashVerdict,
  guessEntrypoint,
  parseEnv,
  parseSecretRefs,
} from '../../domain/apps.js';
import { findPlan, findUser } from '../../domain/lookups.js';
import { checkMaintenance, checkMayOwnVms } from '../../domain/policies.js';
import { BerthError } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import type { App, AppRuntime, AppSource, State } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';
import { hasUserSecret, revealUserSecret } from '../secrets/user-secrets.js';
import { actorReason } from '../vm/vm-event-log.js';
import { buildApp } from './app-build.js';
import { allowedImage, codeLimits, filesArchive, gitArchive, type SourceInput, safeImageArchive, vmFolderArchive } from './app-sources.js';

export type { appFor, SourceInput };

export interface DeployInput {
  user: string;
  name: string;
  source: SourceInput;
  runtime?: AppRuntime;
  entrypoint?: string;
  /** NAME=value items. */
  env?: string[];
  /** NAME or VAR=name items: the owner's secrets. */
  secrets?: string[];
  port?: number;
  /** Replace an app of that name (a new build; the old one runs until the new one is ready). */
  replace?: boolean;
}

const now = () => new Date().toISOString();
const eventRef = (app: Pick<App, 'user' | 'name'>) => `app:${appRef(app)}`;

/** Appends an app's line to the event log (the audit trail: who deployed, stopped, removed what). */
function logAppEvent(
  state: State,
  app: Pick<App, 'user' | 'name'>,
  kind: 'app-deploy' | 'app-start' | 'app-stop' | 'app-crash' | 'app-remove',
  reason: string,
): void {
  state.events.push({ at: now(), vm: eventRef(app), user: app.user, kind, reason });
  if (state.events.length > 200) state.events.splice(0, state.events.length - 200);
}

function sourceRecord(input: SourceInput): AppSource {
  switch (input.kind) {
    case 'files':
    case 'archive':
    case 'upload':
      return { kind: input.kind };
    case 'vm':
      return { kind: 'vm', vm: input.vm, path: input.path };
    case 'git':
      return { kind: 'git', url: input.url, branch: input.branch };
    case 'image':
      return { kind: 'image', image: input.image };
  }
}

/**
 * Deploys an app (new, or with `replace` a new build of one): checks everything it can before any
 * work, reserves the app, gets its code, builds its image, and starts it. A failed build leaves a
 * replaced app running as it was; a new app stays, `failed`, with its build's last lines.
 */
export async function deployApp(
  ctx: Berth,
  input: DeployInput,
  actor: Actor = OPERATOR,
  onLine: (line: string) => void = () => undefined,
): Promise<App> {
  const name = checkAppName(input.name);
  const env = parseEnv(input.env ?? []);
  const secrets = parseSecretRefs(input.secrets ?? []);
  if (input.port !== undefined && !(Number.isInteger(input.port) && input.port >= 1 && input.port <= 65535))
    throw new BerthError('INVALID_APP_SOURCE', `${input.port} is not a port.`, 'Give the port the app listens on, 1–65535.');
  if (!mayReach(actor, input.user))
    throw new BerthError('APP_NOT_FOUND', 'You may deploy only your own apps.', 'Deploy under your own name.');
  // Code given here is checked (and what runs it found) before anything is written: a hostile or
  // unusable archive changes nothing.
  const given = input.source.kind === 'files' || input.source.kind === 'archive' ? await givenCode(ctx, input.source) : undefined;
  if (given)
    guessEntrypoint(given.files, {
      ...(input.runtime ? { runtime: input.runtime } : {}),
      ...(input.entrypoint ? { entrypoint: input.entrypoint } : {}),
    });
  if (input.source.kind === 'image') checkImageAllowed(effectiveConfig((await ctx.store.read()).config)['apps.images'], input.source.image);
  if (input.source.kind === 'git') checkGitSource(input.source.url, input.source.branch);
  // A secret the owner has not set is refused now, not after a build.
  const known = await ctx.store.snapshot();
  for (const { name: secret } of secrets)
    if (!hasUserSecret(known, input.user, secret))
      throw new BerthError(
        'APP_SECRET_MISSING',
        `${input.user} has not set the secret "${printable(secret)}" the app would use.`,
        `Set it first: /setkey ${secret} VALUE in chat, or berth user secret set ${input.user} ${secret}`,
      );
  const backend = await ctx.backend();
  // Reserve: the slot is taken (and a replaced app marked busy) before the long work.
  const reserved = await ctx.store.transact((state) => {
    const user = findUser(state, input.user);
    checkMayOwnVms(user);
    checkMaintenance(state, actor, 'deployed');
    const limits = appLimits(findPlan(state, user.plan));
    if (!state.apps) state.apps = [];
    const apps = state.apps;
    const existing = apps.find((a) => a.user === user.login && a.name === name);
    if (existing) {
      if (!input.replace)
        throw new BerthError(
          'APP_EXISTS',
          `${user.login} already has an app "${name}".`,
          `Deploy again with --replace, or remove it: berth app remove ${appRef(existing)}`,
        );
      if (existing.status === 'building')
        throw new BerthError('APP_BUSY', `The app ${appRef(existing)} is being built.`, 'Wait for that build to end.');
      const previous = existing.status;
      existing.status = 'building';
      return { app: structuredClone(existing), fresh: false, previous };
    }
    const mine = apps.filter((a) => a.user === user.login).length;
    if (mine >= limits.maxApps)
      throw new BerthError(
        'APP_LIMIT',
        limits.maxApps === 0
          ? `The plan ${user.plan} has no apps.`
          : `${user.login} has ${mine} apps, as many as the plan ${user.plan} allows.`,
        limits.maxApps === 0
          ? `Give the plan apps: berth plan set ${user.plan} --apps 3`
          : `Remove one first: berth app list ${user.login}`,
      );
    const at = now();
    const app: App = {
      id: newId(),
      user: user.login,
      userId: user.id,
      name,
      plan: user.plan,
      source: sourceRecord(input.source),
      image: null,
      env,
      secrets,
      ...(input.port ? { port: input.port } : {}),
      resources: { cpu: limits.cpu, memoryBytes: limits.memoryBytes, pids: limits.pids },
      lifetimeSeconds: limits.lifetimeSeconds,
      desired: 'running',
      status: 'building',
      containerId: null,
      createdAt: at,
      deployedAt: at,
      restarts: 0,
      crashes: [],
    };
    apps.push(app);
    return { app: structuredClone(app), fresh: true, previous: 'building' as const };
  });
  const { app } = reserved;
  const started = Date.now();
  let engine: DockerRuntime | undefined;
  let newContainer: string | null = null;
  let builtImage: string | null = null;
  try {
    const node = reserved.fresh ? await backend.apps.place(app.resources) : app.node;
    if (node) app.node = node;
    engine = await backend.apps.engine(node);
    const built = await imageFor(ctx, engine, app, input, onLine, given);
    if (built.image.startsWith(`${appImageRepo(app.id)}:`) && built.image !== app.image) builtImage = built.image;
    const spec = await specFor(
      ctx,
      engine,
      { ...app, image: built.image, env, secrets, ...(input.port ? { port: input.port } : {}) },
      built.argv,
      built.workingDir,
    );
    onLine('starting');
    const oldContainer = app.containerId;
    const oldImage = app.image;
    // The new run is made first; the old one stops only for it to start (a bot never runs twice),
    // and starts again if the new one cannot.
    newContainer = await engine.createContainer(spec);
    const wasRunning = oldContainer ? Boolean((await engine.inspectContainer(oldContainer))?.running) : false;
    if (oldContainer && wasRunning) await engine.stopContainer(oldContainer, 10);
    try {
      await launch(ctx, engine, { ...app, secrets }, newContainer);
    } catch (err) {
      if (oldContainer && wasRunning) await launch(ctx, engine, app, oldContainer).catch(() => undefined);
      throw err;
    }
    const containerId = newContainer;
    newContainer = null;
    if (oldContainer) await engine.removeContainer(oldContainer, { volumes: true }).catch(() => undefined);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const done = await ctx.store.transact((state) => {
      const record = (state.apps ?? []).find((a) => a.id === app.id);
      if (!record) throw new BerthError('APP_NOT_FOUND', `The app ${appRef(app)} was removed while it was deployed.`, 'Deploy it again.');
      Object.assign(record, {
        image: built.image,
        env,
        secrets,
        source: { ...sourceRecord(input.source), ...(built.language ?? {}) },
        containerId,
        desired: 'running',
        status: 'running',
        deployedAt: now(),
        startedAt: now(),
        restarts: 0,
        crashes: [],
        build: { at: now(), seconds, outcome: 'ok' },
        ...(node ? { node } : {}),
      } satisfies Partial<App>);
      if (input.port) record.port = input.port;
      delete record.restartAt;
      delete record.stopReason;
      logAppEvent(state, record, 'app-deploy', `${actorReason(actor)}, from ${describeSource(record.source)}`);
      return structuredClone(record);
    });
    if (oldImage && oldImage !== built.image && oldImage.startsWith(appImageRepo(app.id)))
      await engine.removeImage(oldImage).catch(() => undefined);
    return done;
  } catch (err) {
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const timeout = err instanceof BerthError && err.code === 'APP_BUILD_TIMEOUT';
    // What this deploy made goes again: its container and its image.
    if (engine && newContainer) await engine.removeContainer(newContainer, { volumes: true }).catch(() => undefined);
    if (engine && builtImage) await engine.removeImage(builtImage).catch(() => undefined);
    await ctx.store
      .transact((state) => {
        const record = (state.apps ?? []).find((a) => a.id === app.id);
        if (!record) return;
        logAppEvent(
          state,
          record,
          'app-deploy',
          `${actorReason(actor)}, from ${describeSource(sourceRecord(input.source))}: failed (${timeout ? 'timeout' : ((err as BerthError).code ?? 'error')})`,
        );
        // A new app that never ran is not kept (the error says why); a replaced one runs on as it was.
        if (reserved.fresh) {
          state.apps = (state.apps ?? []).filter((a) => a.id !== app.id);
          return;
        }
        record.status = reserved.previous === 'building' ? 'failed' : reserved.previous;
        record.build = { at: now(), seconds, outcome: timeout ? 'timeout' : 'failed', tail: String((err as Error).message).slice(-3900) };
      })
      .catch(() => undefined);
    throw err;
  }
}

export function describeSource(source: AppSource): string {
  switch (source.kind) {
    case 'files':
      return 'files';
    case 'archive':
      return 'an archive';
    case 'upload':
      return 'an uploaded image';
    case 'vm':
      return `the VM ${source.vm}, ${source.path}`;
    case 'git':
      return `${source.url} (${source.branch})`;
    case 'image':
      return `the image ${source.image}`;
  }
}

interface Built {
  image: string;
  argv: string[];
  workingDir?: string;
  /** Code sources: what berth built it as. */
  language?: { runtime: AppRuntime; entrypoint: string };
}

/** The app's image from its source: built from code, or an image (allowed, or uploaded). */
async function imageFor(
  ctx: Berth,
  engine: DockerRuntime,
  app: App,
  input: DeployInput,
  onLine: (line: string) => void,
  given?: CleanArchive,
): Promise<Built> {
  const source = input.source;
  if (source.kind === 'image' || source.kind === 'upload') {
    let image: string;
    if (source.kind === 'image') image = await allowedImage(ctx, engine, source.image);
    else {
      const max = effectiveConfig((await ctx.store.read()).config)['apps.max-image-upload'];
      if (max === 0)
        throw new BerthError('IMAGE_UPLOAD_OFF', 'Image uploads are off on this host.', 'Deploy code, or an image the operator allows.');
      image = `${appImageRepo(app.id)}:u${Date.now().toString(36)}`;
      onLine('loading the image');
      await engine.loadImage(safeImageArchive(source.data, max, image));
      if (!(await engine.image(image)))
        throw new BerthError('IMAGE_LOAD_FAILED', 'The archive loaded no image.', 'Send the output of docker save IMAGE.');
    }
    const config = await engine.imageConfig(image);
    const argv = [...(config?.entrypoint ?? []), ...(config?.cmd ?? [])];
    if (argv.length === 0)
      throw new BerthError(
        'ENTRYPOINT_MISSING',
        `The image ${printable(image)} says nothing to run.`,
        'Use an image with an ENTRYPOINT or CMD.',
      );
    return { image, argv, ...(config?.workingDir ? { workingDir: config.workingDir } : {}) };
  }
  onLine('reading the code');
  let code: CleanArchive;
  if (given) code = given;
  else if (source.kind === 'vm') code = await vmFolderArchive(ctx, app.user, source.vm, source.path, await codeLimits(ctx));
  else if (source.kind === 'git') code = await gitArchive(ctx, engine, app, source, await codeLimits(ctx), onLine);
  else code = await givenCode(ctx, source);
  const language = guessEntrypoint(code.files, {
    ...(input.runtime ? { runtime: input.runtime } : {}),
    ...(input.entrypoint ? { entrypoint: input.entrypoint } : {}),
  });
  onLine(`building a ${language.runtime} app (${code.files.length} files, runs ${language.entrypoint})`);
  const built = await buildApp(ctx, engine, app, code, language, onLine);
  return { image: built.image, argv: built.argv, workingDir: '/app', language };
}

/** Files or an archive given with the deploy, as a clean tar (refused whole when anything in it is unsafe). */
async function givenCode(ctx: Berth, source: SourceInput): Promise<CleanArchive> {
  const limits = await codeLimits(ctx);
  if (source.kind === 'files') return filesArchive(source.files, limits);
  if (source.kind !== 'archive') throw new BerthError('INVALID_APP_SOURCE', 'That source holds no code.', 'Give files or an archive.');
  if (source.data.length > limits.maxBytes)
    throw new BerthError(
      'ARCHIVE_UNSAFE',
      'The archive is larger than apps.max-upload.',
      'Send a smaller archive (berth installs the requirements itself).',
    );
  return cleanArchive(source.data, limits);
}

/** The app's container request from its record. */
async function specFor(ctx: Berth, engine: DockerRuntime, app: App, argv: string[], workingDir?: string) {
  const state = await ctx.store.read();
  const config = effectiveConfig(state.config);
  const network = await (await ctx.backend()).apps.network(engine, app.node);
  return appContainerSpec({
    appId: app.id,
    user: app.user,
    userId: app.userId,
    name: app.name,
    plan: app.plan,
    instanceId: state.instanceId,
    image: app.image as string,
    network,
    resources: app.resources,
    argv,
    ...(workingDir ? { workingDir } : {}),
    env: app.port ? { PORT: String(app.port), ...app.env } : app.env,
    secrets: app.secrets.length > 0,
    logBytes: config['apps.log-size'],
  });
}

/** Starts the app's container; its secrets (decrypted now) go to its stdin, never to its config. */
async function launch(ctx: Berth, engine: DockerRuntime, app: Pick<App, 'user' | 'name' | 'secrets'>, containerId: string): Promise<void> {
  if (app.secrets.length === 0) {
    await engine.startContainer(containerId);
    return;
  }
  const state = await ctx.store.read();
  const lines: string[] = [];
  for (const { env, name } of app.secrets) {
    const value = await revealUserSecret(ctx.store, state, app.user, name);
    if (value === null)
      throw new BerthError(
        'APP_SECRET_MISSING',
        `The app ${appRef(app)} uses the secret "${name}", which ${app.user} has not set.`,
        `Set it: berth user secret set ${app.user} ${name}`,
      );
    lines.push(`${env}=${value}`);
  }
  const give = await engine.attachStdin(containerId);
  await engine.startContainer(containerId);
  give(`${lines.join('\n')}\n\n`);
}

export interface AppListFilter {
  user?: string;
}

export async function listApps(ctx: Berth, filter: AppListFilter = {}, actor: Actor = OPERATOR): Promise<App[]> {
  const state = await ctx.store.read();
  return (state.apps ?? []).filter((a) => mayReach(actor, a.user) && (!filter.user || a.user === filter.user));
}

export async function getApp(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<App> {
  return appFor(await ctx.store.read(), ref, actor);
}

/** Starts a stopped (or crashed) app in its existing container, or a new one when it has none. */
export async function startApp(ctx: Berth, ref: string, actor: Actor = OPERATOR, why?: string): Promise<App> {
  const app = await ctx.store.transact((state) => {
    const record = appFor(state, ref, actor);
    checkMayOwnVms(findUser(state, record.user));
    checkMaintenance(state, actor, 'started');
    if (record.status === 'building')
      throw new BerthError('APP_BUSY', `The app ${appRef(record)} is being built.`, 'Wait for the build to end.');
    if (!record.image) throw new BerthError('APP_NOT_RUNNING', `The app ${appRef(record)} has never been built.`, 'Deploy it again.');
    record.desired = 'running';
    record.status = 'starting';
    return structuredClone(record);
  });
  return bringUp(ctx, app, why ?? actorReason(actor), true);
}

/** Runs the app's container again (the same one, whose logs it keeps; a new one when it is gone). */
async function bringUp(ctx: Berth, app: App, reason: string, byHand: boolean): Promise<App> {
  const engine = await (await ctx.backend()).apps.engine(app.node);
  try {
    let containerId = app.containerId;
    const present = containerId ? await engine.inspectContainer(containerId) : null;
    if (!present) {
      const config = await engine.imageConfig(app.image as string);
      const argv = [...(config?.entrypoint ?? []), ...(config?.cmd ?? [])];
      containerId = await engine.createContainer(await specFor(ctx, engine, app, argv, config?.workingDir || undefined));
    } else if (present.running) await engine.stopContainer(containerId as string, 5);
    await launch(ctx, engine, app, containerId as string);
    return await ctx.store.transact((state) => {
      const record = (state.apps ?? []).find((a) => a.id === app.id);
      if (!record) throw new BerthError('APP_NOT_FOUND', `The app ${appRef(app)} was removed.`, 'Deploy it again.');
      Object.assign(record, { containerId, status: 'running', desired: 'running', startedAt: now() });
      if (byHand) Object.assign(record, { restarts: 0, crashes: [] });
      delete record.restartAt;
      delete record.stopReason;
      logAppEvent(state, record, 'app-start', reason);
      return structuredClone(record);
    });
  } catch (err) {
    await ctx.store
      .transact((state) => {
        const record = (state.apps ?? []).find((a) => a.id === app.id);
        if (record && record.status === 'starting') record.status = 'stopped';
      })
      .catch(() => undefined);
    throw err;
  }
}

export type AppStopReason = NonNullable<App['stopReason']>;

export async function stopApp(ctx: Berth, ref: string, actor: Actor = OPERATOR, reason?: AppStopReason): Promise<App> {
  const app = await ctx.store.transact((state) => {
    const record = appFor(state, ref, actor);
    if (record.status === 'building')
      throw new BerthError('APP_BUSY', `The app ${appRef(record)} is being built.`, 'Wait for the build to end.');
    // Berth's own doing: its die event is not a crash.
    record.desired = 'stopped';
    return structuredClone(record);
  });
  return stopRecorded(ctx, app, reason ?? (actor.role === 'admin' && actor.login === undefined ? 'operator' : 'user'), actorReason(actor));
}

async function stopRecorded(ctx: Berth, app: App, reason: AppStopReason, who: string): Promise<App> {
  if (app.containerId) {
    const engine = await (await ctx.backend()).apps.engine(app.node);
    await engine.stopContainer(app.containerId, 10);
  }
  return ctx.store.transact((state) => {
    const record = (state.apps ?? []).find((a) => a.id === app.id);
    if (!record) throw new BerthError('APP_NOT_FOUND', `The app ${appRef(app)} was removed.`, 'Nothing to stop.');
    Object.assign(record, { status: 'stopped', desired: 'stopped', stoppedAt: now(), stopReason: reason });
    delete record.restartAt;
    logAppEvent(state, record, 'app-stop', `${who} (${reason})`);
    return structuredClone(record);
  });
}

export async function restartApp(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<App> {
  return startApp(ctx, ref, actor, `${actorReason(actor)}, restart`);
}

/** Removes the app: its container and its image (a shared allowed image stays). */
export async function removeApp(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<App> {
  const app = await ctx.store.transact((state) => {
    const record = appFor(state, ref, actor);
    if (record.status === 'building')
      throw new BerthError('APP_BUSY', `The app ${appRef(record)} is being built.`, 'Wait for the build to end, then remove it.');
    record.desired = 'stopped';
    return structuredClone(record);
  });
  // An app that never ran has nothing on an engine: removed without asking one.
  const own = app.image?.startsWith(`${appImageRepo(app.id)}:`) ? app.image : null;
  if (app.containerId || own) {
    const engine = await (await ctx.backend()).apps.engine(app.node);
    if (app.containerId) await engine.removeContainer(app.containerId, { volumes: true });
    if (own) await engine.removeImage(own).catch(() => undefined);
  }
  await ctx.store.transact((state) => {
    state.apps = (state.apps ?? []).filter((a) => a.id !== app.id);
    logAppEvent(state, app, 'app-remove', actorReason(actor));
  });
  return app;
}

/** The app's output: the last `tail` lines, or (`follow`) a live stream. */
export async function appLogs(
  ctx: Berth,
  ref: string,
  options: { tail: number; follow: boolean },
  actor: Actor = OPERATOR,
): Promise<NodeJS.ReadableStream & { engine: DockerRuntime }> {
  const app = await getApp(ctx, ref, actor);
  if (!app.containerId) throw new BerthError('APP_NOT_RUNNING', `The app ${appRef(app)} has no output yet.`, 'Deploy or start it first.');
  const engine = await (await ctx.backend()).apps.engine(app.node);
  const stream = await engine.logs(app.containerId, { follow: options.follow, tail: Math.max(1, Math.min(options.tail, 10_000)) });
  return Object.assign(stream, { engine });
}

/** The app's last `lines` lines of output as text (chat, the API): at most `maxChars`, the newest kept. */
export async function appLogText(ctx: Berth, ref: string, lines: number, actor: Actor = OPERATOR, maxChars = 64_000): Promise<string> {
  const app = await getApp(ctx, ref, actor);
  if (!app.containerId) throw new BerthError('APP_NOT_RUNNING', `The app ${appRef(app)} has no output yet.`, 'Deploy or start it first.');
  return lastLines(ctx, app, Math.max(1, Math.min(lines, 2000)), maxChars);
}

/** The last lines of the app's output, as text (for notices): at most `lines` lines and `maxChars` characters. */
export async function lastLines(ctx: Berth, app: App, lines = 15, maxChars = 3000): Promise<string> {
  if (!app.containerId) return '';
  try {
    const engine = await (await ctx.backend()).apps.engine(app.node);
    const stream = await engine.logs(app.containerId, { follow: false, tail: lines });
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    engine.demux(stream, out, out);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      setTimeout(resolve, 3000).unref();
    });
    return text.slice(-maxChars);
  } catch {
    return '';
  }
}

export interface AppEvent {
  containerId: string;
  action: 'start' | 'die' | 'oom';
  exitCode?: number;
  time: Date;
}

/** What the supervisor does next for an app after an event: restart it after `inMs`. */
export interface AppEventOutcome {
  app: App;
  restartInMs?: number;
}

/**
 * Records what the engine says of an app's container: an OOM; a death berth did not cause (a
 * crash, told to the owner with the last lines, restarted after a backoff, until the crash limit
 * leaves it `crashed`); an exit with code 0 (it finished: stopped).
 */
export async function recordAppEvent(ctx: Berth, event: AppEvent): Promise<AppEventOutcome | null> {
  const at = event.time.toISOString();
  const outcome = await ctx.store.transact((state) => {
    const app = (state.apps ?? []).find((a) => a.containerId === event.containerId);
    if (!app) return null;
    if (event.action === 'oom') {
      app.oomKilledAt = at;
      return null;
    }
    // Berth's own doing: a build replacing it, or a restart stopping the old run first.
    if (event.action !== 'die' || app.desired !== 'running' || app.status === 'building' || app.status === 'starting') return null;
    // The same death read twice (the events follower reconnected): handled once.
    if (app.stoppedAt && app.stoppedAt >= at) return null;
    app.lastExitCode = event.exitCode ?? app.lastExitCode;
    app.stoppedAt = at;
    const oom = Boolean(app.oomKilledAt && Math.abs(Date.parse(at) - Date.parse(app.oomKilledAt)) < 5000);
    if (event.exitCode === 0 && !oom) {
      Object.assign(app, { status: 'stopped', desired: 'stopped' });
      logAppEvent(state, app, 'app-stop', 'it exited with code 0');
      return { app: structuredClone(app), kind: 'exited' as const, oom };
    }
    const verdict = crashVerdict(app.crashes, event.time, effectiveConfig(state.config)['apps.crash-limit']);
    app.crashes = verdict.crashes;
    logAppEvent(state, app, 'app-crash', `exit code ${event.exitCode ?? '?'}${oom ? ', out of memory' : ''}`);
    if (verdict.crashed) {
      Object.assign(app, { status: 'crashed', desired: 'stopped', stopReason: 'crashed' });
      delete app.restartAt;
      return { app: structuredClone(app), kind: 'crashed' as const, oom };
    }
    app.status = 'restarting';
    app.restartAt = new Date(event.time.getTime() + verdict.backoffMs).toISOString();
    return { app: structuredClone(app), kind: 'restarting' as const, oom, backoffMs: verdict.backoffMs };
  });
  if (!outcome) return null;
  const { app, kind, oom } = outcome;
  // The owner is told without holding up the caller (the daemon's events, one at a time): the
  // last lines are read from the engine (up to 3 s) and the notice sent in the background.
  const tell = async () => {
    const tail = await lastLines(ctx, app);
    const what = oom ? 'ran out of memory (its plan limit) and was killed' : `stopped with exit code ${app.lastExitCode ?? '?'}`;
    const next =
      kind === 'crashed'
        ? `It crashed ${app.crashes.length} times within an hour, so it stays down. Fix it and start it again.`
        : kind === 'restarting'
          ? `berth starts it again in ${Math.round((outcome.backoffMs ?? 0) / 1000)} s.`
          : 'It finished (exit code 0) and stays stopped.';
    await ctx.notifier.send({
      kind: kind === 'exited' ? 'app-stopped' : 'app-crashed',
      to: app.user,
      text: `Your app ${app.name} ${kind === 'exited' ? 'exited' : what}. ${next}${tail ? `\nLast lines:\n${tail}` : ''}`,
    });
  };
  void tell().catch(() => undefined);
  return kind === 'restarting' ? { app, restartInMs: Math.max(0, Date.parse(app.restartAt as string) - Date.now()) } : { app };
}

/** Restarts an app whose backoff ended (if it is still meant to run); called by the daemon. */
export async function restartCrashed(ctx: Berth, appId: string): Promise<App | null> {
  const app = await ctx.store.transact((state) => {
    const record = (state.apps ?? []).find((a) => a.id === appId);
    if (record?.status !== 'restarting' || record.desired !== 'running') return null;
    record.status = 'starting';
    record.restarts += 1;
    return structuredClone(record);
  });
  if (!app) return null;
  return bringUp(ctx, app, `restarted after a crash (restart ${app.restarts})`, false);
}

/** Apps that ran past their plan's lifetime: stopped, their owners told. */
export async function stopExpiredApps(ctx: Berth, at = new Date()): Promise<App[]> {
  const state = await ctx.store.snapshot();
  const expired = (state.apps ?? []).filter(
    (a) =>
      a.status === 'running' && a.lifetimeSeconds > 0 && a.startedAt && Date.parse(a.startedAt) + a.lifetimeSeconds * 1000 <= at.getTime(),
  );
  const stopped: App[] = [];
  for (const app of expired) {
    await ctx.store.transact((s) => {
      const record = (s.apps ?? []).find((a) => a.id === app.id);
      if (record) record.desired = 'stopped';
    });
    stopped.push(await stopRecorded(ctx, app, 'lifetime', "its plan's lifetime ended"));
    await ctx.notifier.send({
      kind: 'app-stopped',
      to: app.user,
      text: `Your app ${app.name} ran for its plan's longest time and was stopped. Start it again when you need it.`,
    });
  }
  return stopped;
}

/** Apps due for a restart (their backoff over, or a daemon that was away), by id. */
export function dueRestarts(state: State, at = new Date()): string[] {
  return (state.apps ?? [])
    .filter((a) => a.status === 'restarting' && a.desired === 'running' && Date.parse(a.restartAt ?? '') <= at.getTime())
    .map((a) => a.id);
}

/**
 * Apps meant to run whose container does not (the host rebooted: berth, not the engine, restarts
 * apps; or the daemon was away when one crashed): started again. Builds a process left unfinished
 * (it died) are marked failed. What was done, one line each.
 */
export async function reviveApps(ctx: Berth, at = new Date()): Promise<string[]> {
  const state = await ctx.store.read();
  const config = effectiveConfig(state.config);
  const done: string[] = [];
  const stale = (state.apps ?? []).filter(
    (a) => a.status === 'building' && Date.parse(a.deployedAt) + config['apps.build-timeout'] * 2000 + 60_000 < at.getTime(),
  );
  if (stale.length)
    await ctx.store.transact((s) => {
      for (const app of s.apps ?? [])
        if (stale.some((x) => x.id === app.id) && app.status === 'building') {
          app.status = app.image ? 'stopped' : 'failed';
          done.push(`${appRef(app)}: an unfinished build marked ${app.status}`);
        }
    });
  const meant = (state.apps ?? []).filter((a) => a.desired === 'running' && (a.status === 'running' || a.status === 'starting'));
  for (const app of meant) {
    try {
      const engine = await (await ctx.backend()).apps.engine(app.node);
      const container = app.containerId ? await engine.inspectContainer(app.containerId) : null;
      if (container?.running) continue;
      await bringUp(ctx, app, 'started again (found stopped)', false);
      done.push(`${appRef(app)}: started again`);
    } catch (err) {
      done.push(`${appRef(app)}: could not be started: ${(err as Error).message}`);
    }
  }
  return done;
}

/** One pass of the supervisor (every 2 s: it reads the shared snapshot, a file read while nothing changed): restarts whose backoff ended; apps past their lifetime stopped. */
export async function superviseApps(ctx: Berth, at = new Date()): Promise<string[]> {
  const state = await ctx.store.snapshot();
  if (!state.apps?.length) return [];
  const done: string[] = [];
  for (const id of dueRestarts(state, at)) {
    const app = await restartCrashed(ctx, id).catch((err: unknown) => {
      done.push(`${id}: restart failed: ${(err as Error).message}`);
      return null;
    });
    if (app) done.push(`${appRef(app)}: restarted (restart ${app.restarts})`);
  }
  for (const app of await stopExpiredApps(ctx, at)) done.push(`${appRef(app)}: stopped at the end of its lifetime`);
  done.push(...(await followPolicies(ctx)));
  return done;
}

/**
 * What holds for VMs holds for apps, whoever changed the state (the CLI, chat, the TUI): an owner
 * who is no longer allowed has their apps stopped; maintenance stops running apps and, when it
 * ends, starts again those it stopped.
 */
async function followPolicies(ctx: Berth): Promise<string[]> {
  const state = await ctx.store.snapshot();
  const allowed = new Set(state.users.filter((u) => u.status === 'allowed').map((u) => u.login));
  const done: string[] = [];
  const toStop = (state.apps ?? []).flatMap((a): Array<{ app: App; reason: AppStopReason; why: string }> => {
    if (a.desired !== 'running' || a.status === 'building') return [];
    if (!allowed.has(a.user)) return [{ app: a, reason: 'revoked', why: 'its owner is no longer allowed' }];
    if (state.maintenance.on) return [{ app: a, reason: 'maintenance', why: 'maintenance' }];
    return [];
  });
  for (const { app, reason, why } of toStop) {
    try {
      const marked = await ctx.store.transact((s) => {
        const record = (s.apps ?? []).find((a) => a.id === app.id);
        if (record?.desired !== 'running') return null;
        record.desired = 'stopped';
        return structuredClone(record);
      });
      if (!marked) continue;
      await stopRecorded(ctx, marked, reason, why);
      done.push(`${appRef(app)}: stopped (${why})`);
    } catch (err) {
      done.push(`${appRef(app)}: could not be stopped (${why}): ${(err as Error).message}`);
    }
  }
  if (!state.maintenance.on) {
    for (const app of (state.apps ?? []).filter((a) => a.stopReason === 'maintenance' && a.desired === 'stopped' && allowed.has(a.user))) {
      await startApp(ctx, appRef(app), OPERATOR, 'maintenance is over')
        .then(() => done.push(`${appRef(app)}: started again after maintenance`))
        .catch((err: unknown) => done.push(`${appRef(app)}: could not be started after maintenance: ${(err as Error).message}`));
    }
  }
  return done;
}
