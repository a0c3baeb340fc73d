import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildAppBase } from '../../src/services/apps/app-base.js';
import { openBerth } from '../../src/services/engine/open.js';
import type { AppRuntime } from '../../src/state/schema.js';
import { berth, ROOT } from './cli.js';
import { docker } from './docker.js';

/** A runtime's base files (templates/apps/RUNTIME: its Dockerfile, and node's packages.json), in a stable order. */
function sourcesOf(runtime: AppRuntime): string {
  const dir = join(ROOT, 'templates', 'apps', runtime);
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}\0${readFileSync(join(dir, f), 'utf8')}`)
    .join('\0');
}

/**
 * The app bases on the local bookworm base, tagged by their sources (as test/helpers/images.ts
 * tags the VM images), so that test files share them and later runs reuse them until a file of
 * templates/apps/RUNTIME changes; the run's global teardown removes them.
 */
export const APP_BASE_IMAGES: Record<AppRuntime, string> = {
  python: `berth-app-python-test:${createHash('sha256').update(sourcesOf('python')).digest('hex').slice(0, 12)}`,
  node: `berth-app-node-test:${createHash('sha256').update(sourcesOf('node')).digest('hex').slice(0, 12)}`,
};

/** Builds whichever of APP_BASE_IMAGES the engine lacks (through berth's own build, with the berth home `home`, set up here if it is not yet). */
export async function appBaseImages(home: string): Promise<{ python: string; node: string }> {
  const missing: AppRuntime[] = [];
  for (const runtime of ['python', 'node'] as const) {
    const present = await docker
      .getImage(APP_BASE_IMAGES[runtime])
      .inspect()
      .catch(() => null);
    if (!present) missing.push(runtime);
  }
  if (missing.length) {
    await execa('bash', [join(ROOT, 'scripts', 'base-images.sh'), 'bookworm'], { stdio: 'inherit' });
    if (!existsSync(join(home, 'state.json'))) {
      const init = await berth(home, ['init']);
      if (init.code !== 0) throw new Error(`berth init failed: ${init.stderr}`);
    }
    const ctx = openBerth(home);
    for (const runtime of missing) {
      await buildAppBase(ctx, runtime, { base: 'berth-base:bookworm', tag: APP_BASE_IMAGES[runtime] });
    }
  }
  return { python: APP_BASE_IMAGES.python, node: APP_BASE_IMAGES.node };
}
