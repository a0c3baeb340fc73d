/**
 * The rules of users' apps that need no engine: names, limits from plans, variables, sources as
 * people write them, which images the operator allows, and what a crash leads to.
 */
import { BerthError, invalidInput } from '../errors.js';
import type { App, AppRuntime, Plan, State } from '../state/schema.js';
import { checkShortName, printable } from '../values/names.js';
import { type Actor, mayReach } from './actor.js';
import { cleanPath } from './archive-paths.js';

export const checkAppName = (input: string) => checkShortName(input, 'app');
export const appRef = (app: Pick<App, 'user' | 'name'>) => `${app.user}/${app.name}`;

/** Where the plan says nothing: the limits of the bot-runner plan berth's apps come from. */
export const DEFAULT_APP_LIMITS = {
  maxApps: 3,
  cpu: 0.5,
  memoryBytes: 256 * 1024 ** 2,
  pids: 100,
  lifetimeSeconds: 24 * 3600,
} as const;

export interface AppLimits {
  maxApps: number;
  cpu: number;
  memoryBytes: number;
  pids: number;
  lifetimeSeconds: number;
  public: boolean;
}

export function appLimits(plan: Plan): AppLimits {
  return {
    maxApps: plan.maxApps ?? DEFAULT_APP_LIMITS.maxApps,
    cpu: plan.appCpu ?? DEFAULT_APP_LIMITS.cpu,
    memoryBytes: plan.appRamBytes ?? DEFAULT_APP_LIMITS.memoryBytes,
    pids: plan.appPids ?? DEFAULT_APP_LIMITS.pids,
    lifetimeSeconds: plan.appLifetimeSeconds ?? DEFAULT_APP_LIMITS.lifetimeSeconds,
    public: plan.appPublic ?? false,
  };
}

/** "alice/bot" → both; "bot" → the name alone (the caller's own user). */
export function parseAppRef(ref: string): { user?: string; name: string } {
  const [first = '', second, ...rest] = ref.split('/');
  if (rest.length > 0 || (second !== undefined && !first))
    throw invalidInput(
      'INVALID_APP_NAME',
      `"${printable(ref)}" is not an app (USER/NAME or NAME).`,
      'Write it as alice/mybot, or mybot for your own.',
    );
  return second === undefined ? { name: checkAppName(first) } : { user: first, name: checkAppName(second) };
}

export function findApp(state: State, user: string, name: string): App {
  const app = (state.apps ?? []).find((a) => a.user === user && a.name === name);
  if (!app) {
    throw new BerthError('APP_NOT_FOUND', `${user} has no app "${printable(name)}".`, `List them: berth app list ${user}`);
  }
  return app;
}

/** Names berth sets itself, or that change how the app's process is started. */
const RESERVED_APP_ENV = /^(BERTH_.*|HOME|PATH|LD_.*|PYTHONPATH|PYTHONHOME|NODE_OPTIONS|NODE_PATH|HOSTNAME)$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_APP_ENV = 64;
const MAX_ENV_BYTES = 32 * 1024;

function checkEnvName(name: string): string {
  if (!ENV_NAME.test(name) || RESERVED_APP_ENV.test(name)) {
    throw invalidInput(
      'INVALID_ENV',
      `"${printable(name)}" is not a variable an app may set.`,
      "Use letters, digits and _ (not first a digit); BERTH_*, HOME, PATH, LD_*, PYTHONPATH, NODE_OPTIONS are berth's.",
    );
  }
  return name;
}

/** `NAME=value` items as a map (the last of a name wins); bounded in number and size. */
export function parseEnv(items: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw invalidInput(
        'INVALID_ENV',
        `"${printable(item)}" is not NAME=value.`,
        'Write each variable as NAME=value, e.g. --env MODE=prod.',
      );
    const name = checkEnvName(item.slice(0, eq));
    const value = item.slice(eq + 1);
    if (value.includes('\0') || value.length > 4096)
      throw invalidInput('INVALID_ENV', `The value of ${name} is too long or holds a NUL byte.`, 'Keep each value under 4096 characters.');
    env[name] = value;
  }
  if (Object.keys(env).length > MAX_APP_ENV)
    throw invalidInput('INVALID_ENV', `More than ${MAX_APP_ENV} variables.`, 'Pass fewer variables.');
  if (Object.entries(env).reduce((n, [k, v]) => n + k.length + v.length, 0) > MAX_ENV_BYTES)
    throw invalidInput('INVALID_ENV', 'The variables are larger than 32 KiB together.', 'Keep large data in files of the app.');
  return env;
}

/** `--secret NAME` (variable NAME, upper-cased, - as _) or `--secret VAR=name`. */
export function parseSecretRefs(items: readonly string[]): Array<{ env: string; name: string }> {
  const out = new Map<string, string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = (eq >= 0 ? item.slice(eq + 1) : item).trim().toLowerCase();
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(name))
      throw invalidInput(
        'INVALID_ENV',
        `"${printable(item)}" does not name a secret.`,
        'Write --secret NAME or --secret VARIABLE=NAME (names: lowercase letters, digits, -).',
      );
    const env = checkEnvName(eq >= 0 ? item.slice(0, eq) : name.toUpperCase().replace(/-/g, '_'));
    out.set(env, name);
  }
  return [...out].map(([env, name]) => ({ env, name }));
}

/** The file an app runs, relative to its directory. */
export function checkEntrypoint(input: string): string {
  let path = '';
  try {
    path = cleanPath(input.trim());
  } catch {
    path = '';
  }
  if (!path || input.trim().startsWith('-'))
    throw invalidInput(
      'INVALID_ENTRYPOINT',
      `"${printable(input)}" is not a file inside the app.`,
      'Give a relative path such as bot.py or src/main.js.',
    );
  return path;
}

/** The entrypoint and language of a code source, from what it holds when not said. */
export function guessEntrypoint(
  files: readonly string[],
  given: { runtime?: AppRuntime; entrypoint?: string },
): { runtime: AppRuntime; entrypoint: string } {
  const has = new Set(files);
  const entrypoint = given.entrypoint ? checkEntrypoint(given.entrypoint) : undefined;
  const runtimeOf = (file: string): AppRuntime | undefined =>
    /\.py$/.test(file) ? 'python' : /\.(m?js|cjs)$/.test(file) || file === 'package.json' ? 'node' : undefined;
  const runtime =
    given.runtime ??
    (entrypoint ? runtimeOf(entrypoint) : undefined) ??
    (has.has('requirements.txt') || [...has].some((f) => /^[^/]+\.py$/.test(f)) ? 'python' : has.has('package.json') ? 'node' : undefined);
  if (!runtime)
    throw new BerthError(
      'RUNTIME_UNKNOWN',
      'berth cannot tell whether the app is Python or Node.js.',
      'Say it: --runtime python or --runtime node.',
    );
  if (entrypoint) {
    if (!has.has(entrypoint))
      throw new BerthError(
        'ENTRYPOINT_MISSING',
        `The app has no file ${printable(entrypoint)}.`,
        "Check the path (relative to the app's folder).",
      );
    return { runtime, entrypoint };
  }
  const usual =
    runtime === 'python' ? ['main.py', 'bot.py', 'app.py', '__main__.py'] : ['index.js', 'main.js', 'bot.js', 'app.js', 'server.js'];
  // The usual names, else the one file of the language at the top (a single bot.py, site.js).
  const only = [...has].filter((f) => !f.includes('/') && (runtime === 'python' ? /\.py$/.test(f) : /\.(m?js|cjs)$/.test(f)));
  const found = usual.find((f) => has.has(f)) ?? (only.length === 1 ? only[0] : undefined);
  if (!found)
    throw new BerthError(
      'ENTRYPOINT_MISSING',
      `The app has none of ${usual.join(', ')}, and not just one ${runtime === 'python' ? '.py' : '.js'} file at its top.`,
      'Name the file to run with --entrypoint FILE.',
    );
  return { runtime, entrypoint: found };
}

/** An https git URL without credentials, and a branch name git accepts (never an option). */
export function checkGitSource(url: string, branch: string): { url: string; branch: string } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url.trim());
  } catch {
    parsed = undefined;
  }
  const bad = (why: string): never => {
    throw invalidInput(
      'INVALID_GIT_SOURCE',
      `${printable(url)}: ${why}.`,
      'Give an https URL such as https://github.com/you/bot.git and a branch (--branch main).',
    );
  };
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) bad('not an http(s) URL');
  if (parsed?.username || parsed?.password) bad('it holds credentials (use a public repository, or an archive)');
  if (url.length > 500) bad('it is too long');
  const name = branch.trim();
  if (!/^[A-Za-z0-9._/-]{1,200}$/.test(name) || name.startsWith('-') || name.includes('..') || name.endsWith('.lock') || name.endsWith('/'))
    bad(`"${printable(branch)}" is not a usable branch name`);
  return { url: (parsed as URL).toString(), branch: name };
}

/** Refuses an image apps.images does not allow, naming what is allowed. */
export function checkImageAllowed(patterns: readonly string[], image: string): void {
  if (imageAllowed(patterns, image)) return;
  throw new BerthError(
    'IMAGE_NOT_ALLOWED',
    `The image ${printable(image)} is not one the operator allows for apps.`,
    patterns.length ? `Allowed: ${patterns.join(', ')}.` : 'No images are allowed (apps.images is empty): deploy code instead.',
  );
}

/**
 * The app `ref` (USER/NAME, or NAME: the actor's own) as `actor` may see it. Someone who may not
 * reach USER's apps is told exactly what they would be told of an app that does not exist: no
 * answer says whether another user has an app of that name.
 */
export function appFor(state: State, ref: string, actor: Actor): App {
  const [first = '', second, ...rest] = ref.split('/');
  if (rest.length > 0)
    throw invalidInput(
      'INVALID_APP_NAME',
      `"${printable(ref)}" is not an app (USER/NAME or NAME).`,
      'Write it as alice/mybot, or mybot for your own.',
    );
  const user = second === undefined ? actor.login : first;
  const name = checkAppName(second ?? first);
  if (!user) throw new BerthError('INVALID_APP_NAME', `Say whose app "${printable(name)}" is.`, 'Write it as USER/NAME, e.g. alice/mybot.');
  const app = (state.apps ?? []).find((a) => a.user === user && a.name === name);
  if (app && mayReach(actor, app.user)) return app;
  if (!mayReach(actor, user))
    throw new BerthError('APP_NOT_FOUND', `You have no app "${printable(name)}".`, 'List yours: /apps (or GET /api/v1/apps).');
  return findApp(state, user, name);
}

/** Whether the operator's apps.images allows this reference (`*` matches any run of characters). */
export function imageAllowed(patterns: readonly string[], ref: string): boolean {
  const normal = (r: string) => (r.includes(':') || r.includes('@') ? r : `${r}:latest`);
  const want = normal(ref);
  return patterns.some((p) => {
    const re = new RegExp(
      `^${p
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*')}$`,
    );
    return re.test(ref) || re.test(want) || (!p.includes(':') && !p.includes('*') && want === `${p}:latest`);
  });
}

/** A folder of the user's home in their VM: `~/x`, `x` (relative to the home) or `/home/LOGIN/x`. */
export function vmPath(input: string, login: string): string {
  const text = input.trim();
  const home = `/home/${login}`;
  const absolute =
    text === '~' ? home : text.startsWith('~/') ? `${home}/${text.slice(2)}` : text.startsWith('/') ? text : `${home}/${text}`;
  let clean = '';
  try {
    clean = `/${cleanPath(absolute.replace(/^\/+/, '').replace(/\/+$/, ''))}`;
  } catch {
    clean = '';
  }
  if (!clean || text.length > 1024 || (clean !== home && !clean.startsWith(`${home}/`)))
    throw invalidInput(
      'INVALID_APP_SOURCE',
      `"${printable(input)}" is not a folder of your home in the VM.`,
      `Give the folder as ~/mybot or ${home}/mybot.`,
    );
  return clean;
}

/** After a crash: how long to wait before starting it again, or that it stays down. */
export interface CrashVerdict {
  /** The crashes within the last hour, this one included (oldest first, bounded). */
  crashes: string[];
  /** Past the limit: it stays down as `crashed`. */
  crashed: boolean;
  /** Wait before the restart: 1 s, 2 s, 4 s… up to a minute. */
  backoffMs: number;
}

export const CRASH_WINDOW_MS = 3600_000;

export function crashVerdict(previous: readonly string[], at: Date, limit: number): CrashVerdict {
  const since = at.getTime() - CRASH_WINDOW_MS;
  const crashes = [...previous.filter((t) => Date.parse(t) > since), at.toISOString()].slice(-100);
  return {
    crashes,
    crashed: crashes.length > limit,
    backoffMs: Math.min(60_000, 1000 * 2 ** Math.max(0, crashes.length - 1)),
  };
}
