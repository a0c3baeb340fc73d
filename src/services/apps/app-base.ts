import { join } from 'node:path';
import { LABEL } from '../../docker/labels.js';
import { packageRoot } from '../../package-root.js';
import { APP_RUNTIMES, type AppRuntime } from '../../state/schema.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { type BuildResult, buildImage } from '../vm/images.js';

/**
 * The images apps are built on, one per runtime (templates/apps/RUNTIME/Dockerfile): Debian with
 * the runtime, git, an `app` account at uid 1000 and /app. An app's build runs its installs in a
 * hardened container of one of them and commits it; nobody's Dockerfile is built.
 */

const IMAGE_KEY = { python: 'apps.python-image', node: 'apps.node-image' } as const satisfies Record<AppRuntime, keyof ConfigValues>;

async function config(ctx: Berth): Promise<ConfigValues> {
  return effectiveConfig((await ctx.store.read()).config);
}

/** The folder of a runtime's base (not a VM template: listTemplates sees only templates/NAME/Dockerfile). */
export function appBaseDir(runtime: AppRuntime): string {
  return join(packageRoot(), 'templates', 'apps', runtime);
}

/** Builds a runtime's base image under `tag` (default: apps.python-image or apps.node-image) on `base` (default: the Dockerfile's, debian:bookworm-slim). */
export async function buildAppBase(
  ctx: Berth,
  runtime: AppRuntime,
  options: { base?: string; tag?: string },
  onLine?: (line: string) => void,
): Promise<BuildResult> {
  const tag = options.tag ?? (await config(ctx))[IMAGE_KEY[runtime]];
  return buildImage(
    ctx,
    {
      base: options.base,
      tag,
      source: {
        dir: appBaseDir(runtime),
        name: `app-${runtime}`,
        labels: { [LABEL.appBase]: runtime },
        rebuild: `berth app base --runtime ${runtime}`,
      },
    },
    onLine,
  );
}

/** Each runtime's base image (as configured) and whether the engine has it. */
export async function appBaseStatus(ctx: Berth): Promise<Array<{ runtime: AppRuntime; image: string; present: boolean }>> {
  const values = await config(ctx);
  const runtime = await ctx.runtime();
  return Promise.all(
    APP_RUNTIMES.map(async (name) => {
      const image = values[IMAGE_KEY[name]];
      return { runtime: name, image, present: (await runtime.image(image)) !== null };
    }),
  );
}
