/**
 * An app's image from its code: the shipped base for its language runs the installs as the app's
 * user in a hardened container on berth's network (the egress policy holds; the requirements' own
 * code runs here, never on the host), within the build's time, memory, CPU and process limits;
 * the container is then committed as the app's image and removed.
 */
import { Readable } from 'node:stream';
import { APP_DIR, APP_UID, appLabels, buildContainerSpec } from '../../docker/app-spec.js';
import type { CleanArchive } from '../../docker/archive.js';
import { appImageRepo } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { BerthError } from '../../errors.js';
import type { App, AppRuntime } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { runToEnd } from './app-sources.js';

export interface BuiltImage {
  image: string;
  argv: string[];
  seconds: number;
}

/** The install step of each language (only when the code lists requirements). */
function buildScript(runtime: AppRuntime, files: ReadonlySet<string>): string {
  const lines = ['set -e', `cd ${APP_DIR}`];
  if (runtime === 'python' && files.has('requirements.txt')) {
    lines.push(
      'echo "berth: installing requirements.txt"',
      'python3 -m venv /app/.venv',
      '/app/.venv/bin/pip install --no-input --progress-bar off --no-cache-dir -r requirements.txt',
    );
  }
  if (runtime === 'node' && files.has('package.json')) {
    lines.push(
      'echo "berth: installing package.json dependencies"',
      'if [ -f package-lock.json ]; then npm ci --omit=dev --no-audit --no-fund; else npm install --omit=dev --no-audit --no-fund; fi',
      'rm -rf "$HOME/.npm"',
    );
  }
  lines.push('rm -rf /tmp/build-home', 'echo "berth: build done"');
  return lines.join('\n');
}

/** What runs the app: the language's interpreter on the entrypoint (the build's virtualenv when it made one). */
export function appArgv(runtime: AppRuntime, entrypoint: string, files: ReadonlySet<string>): string[] {
  if (runtime === 'python') return [files.has('requirements.txt') ? '/app/.venv/bin/python' : 'python3', '-u', entrypoint];
  if (entrypoint === 'package.json') return ['npm', 'start', '--silent'];
  return ['node', entrypoint];
}

/** The package indexes the operator set, as the installers' own variables. */
function indexEnv(config: ReturnType<typeof effectiveConfig>): Record<string, string> {
  const env: Record<string, string> = { HOME: '/tmp/build-home' };
  const pip = config['apps.pip-index-url'];
  if (pip) {
    env.PIP_INDEX_URL = pip;
    // pip refuses plain http unless the host is trusted: a mirror on the LAN is the operator's choice.
    if (pip.startsWith('http:')) env.PIP_TRUSTED_HOST = new URL(pip).hostname;
  }
  if (config['apps.npm-registry']) env.NPM_CONFIG_REGISTRY = config['apps.npm-registry'];
  return env;
}

export async function buildApp(
  ctx: Berth,
  engine: DockerRuntime,
  app: Pick<App, 'id' | 'user' | 'userId' | 'plan' | 'node'>,
  code: CleanArchive,
  language: { runtime: AppRuntime; entrypoint: string },
  onLine: (line: string) => void,
): Promise<BuiltImage> {
  const started = Date.now();
  const state = await ctx.store.read();
  const config = effectiveConfig(state.config);
  const base = config[language.runtime === 'python' ? 'apps.python-image' : 'apps.node-image'];
  const apps = (await ctx.backend()).apps;
  if (!(await engine.image(base)) && !(await (await ctx.runtime()).image(base)))
    throw new BerthError(
      'APP_BASE_MISSING',
      `The image ${base} that ${language.runtime} apps are built on is not on the engine.`,
      'Build it: berth app base',
    );
  await apps.provide(engine, base);
  const files = new Set(code.files);
  const network = await apps.network(engine, app.node);
  const spec = buildContainerSpec({
    appId: app.id,
    user: app.user,
    userId: app.userId,
    plan: app.plan,
    instanceId: state.instanceId,
    image: base,
    network,
    resources: { cpu: config['apps.build-cpu'], memoryBytes: config['apps.build-ram'], pids: 512 },
    script: buildScript(language.runtime, files),
    env: indexEnv(config),
  });
  const id = await engine.createContainer(spec);
  try {
    await engine.archiveInto(id, APP_DIR, Readable.from(code.tar));
    // Code without requirements needs no step run: the created container, with the code in it, is the image.
    const installs =
      (language.runtime === 'python' && files.has('requirements.txt')) || (language.runtime === 'node' && files.has('package.json'));
    const { exitCode, tail } = installs
      ? await runToEnd(engine, id, config['apps.build-timeout'] * 1000, onLine)
      : { exitCode: 0, tail: '' };
    if (exitCode !== 0)
      throw new BerthError(
        'APP_BUILD_FAILED',
        `The build failed (exit code ${exitCode}). Its last lines:\n${tail}`,
        'Fix the requirements or the code, and deploy again.',
      );
    const argv = appArgv(language.runtime, language.entrypoint, files);
    const tag = `b${Date.now().toString(36)}`;
    await engine.commitContainer(id, appImageRepo(app.id), tag, {
      Entrypoint: argv.slice(0, 1),
      Cmd: argv.slice(1),
      User: APP_UID,
      WorkingDir: APP_DIR,
      Env: ['PYTHONUNBUFFERED=1'],
      Labels: appLabels({ ...app, appId: app.id, instanceId: state.instanceId }),
    });
    return { image: `${appImageRepo(app.id)}:${tag}`, argv, seconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    await engine.removeContainer(id, { volumes: true }).catch(() => undefined);
  }
}
