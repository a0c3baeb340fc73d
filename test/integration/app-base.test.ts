import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appBaseStatus } from '../../src/services/apps/app-base.js';
import { openBerth } from '../../src/services/engine/open.js';
import { listTemplates } from '../../src/services/vm/images.js';
import { APP_BASE_IMAGES, appBaseImages } from '../helpers/app-images.js';
import { berth, ROOT, tempHome } from '../helpers/cli.js';
import { docker, unique } from '../helpers/docker.js';

const BuildResultSchema = z
  .object({
    tag: z.string(),
    template: z.string(),
    base: z.string().nullable(),
    imageId: z.string(),
    sizeBytes: z.number().int().positive(),
    seconds: z.number().min(0),
  })
  .strict();

/** Every container this file runs carries it; afterAll removes any left over. */
const TEST_LABEL = `dev.berth.test=${unique('app-base-')}`;

let home: string;
let cleanup: () => Promise<void>;

/** `docker run --rm` of `image` as uid 1000 with no network: what the command printed. */
async function run(image: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa(
    'docker',
    ['run', '--rm', '--label', TEST_LABEL, '--user', '1000:1000', '--network', 'none', image, 'sh', '-c', script],
    {
      reject: false,
      timeout: 60_000,
    },
  );
  return { code: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  ({ home, cleanup } = await tempHome());
  for (const args of [
    ['init'],
    ['config', 'set', 'apps.python-image', APP_BASE_IMAGES.python],
    ['config', 'set', 'apps.node-image', APP_BASE_IMAGES.node],
  ]) {
    const done = await berth(home, args);
    if (done.code !== 0) throw new Error(done.stderr);
  }
  // Built once per content of templates/apps (later runs, and other files, reuse them).
  await appBaseImages(home);
}, 600_000);

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [TEST_LABEL] } })) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await cleanup();
});

describe('app bases', () => {
  it('`berth app base --json` builds both on a local Debian base under the configured tags, labelled as app bases', {
    timeout: 300_000,
  }, async () => {
    const build = await berth(home, ['app', 'base', '--base', 'berth-base:bookworm', '--json']);
    expect(build.code, build.stderr).toBe(0);
    const results = z.array(BuildResultSchema).parse(JSON.parse(build.stdout));
    expect(results.map((r) => [r.template, r.tag, r.base])).toEqual([
      ['app-python', APP_BASE_IMAGES.python, 'berth-base:bookworm'],
      ['app-node', APP_BASE_IMAGES.node, 'berth-base:bookworm'],
    ]);
    for (const [runtime, tag] of Object.entries(APP_BASE_IMAGES)) {
      const image = await docker.getImage(tag).inspect();
      expect(image.Config.Labels).toEqual({ 'dev.berth.managed': 'true', 'dev.berth.app-base': runtime });
      expect(image.Config.User).toBe('1000:1000');
      expect(image.Config.WorkingDir).toBe('/app');
      expect(image.Config.Entrypoint ?? []).toEqual([]);
      expect(image.Config.Cmd).toEqual(['/bin/sh']);
    }
    // Not VM images: a VM cannot be made of them (no template label), and `berth image list` says what they are.
    const list = await berth(home, ['image', 'list', '--json']);
    const images = JSON.parse(list.stdout) as Array<{ tags: string[]; template: string }>;
    expect(images.find((i) => i.tags.includes(APP_BASE_IMAGES.node))?.template).toBe('app-node');
  });

  it('streams the build to stderr without --json, and builds only the runtime asked for', { timeout: 300_000 }, async () => {
    const build = await berth(home, ['app', 'base', '--runtime', 'python', '--base', 'berth-base:bookworm']);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toContain('Building the python app base on berth-base:bookworm…');
    expect(build.stderr).toMatch(/Step \d+\/\d+ : FROM/);
    expect(build.stderr).not.toContain('Building the node app base');
    expect(build.stdout).toMatch(new RegExp(`^Built ${APP_BASE_IMAGES.python.replace(/[.:]/g, '\\$&')} \\(\\d+ MB\\) in [\\d.]+ s\\.$`));
  });

  it('python: uid 1000 makes a venv with a working pip offline and writes /app; git is there', async () => {
    const out = await run(
      APP_BASE_IMAGES.python,
      'set -e; id -u; id -g; pwd; python3 -m venv /tmp/v && /tmp/v/bin/pip --version; touch /app/probe && echo app-writable; git --version; ls /var/lib/apt/lists | wc -l',
    );
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual(['1000', '1000', '/app']);
    expect(lines[3]).toMatch(/^pip \d+\.\d+(\.\d+)? from \/tmp\/v\/lib\/python3\.\d+\/site-packages\/pip \(python 3\.\d+\)$/);
    expect(lines[4]).toBe('app-writable');
    expect(lines[5]).toMatch(/^git version \d+/);
    expect(lines[6]).toBe('0');
  });

  it('node: uid 1000 runs the pinned Node.js and npm (not Debian’s), npx, and writes /app', async () => {
    const out = await run(
      APP_BASE_IMAGES.node,
      'set -e; id -u; node --version; npm --version; npx --version; readlink /usr/local/bin/npm; touch /app/probe && echo app-writable; git --version; test ! -e /usr/share/nodejs && test ! -e /usr/bin/npm && echo no-debian-npm; npm config get fund',
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.split('\n')).toEqual([
      '1000',
      'v22.23.3',
      '10.9.9',
      '10.9.9',
      '../lib/node_modules/npm/bin/npm-cli.js',
      'app-writable',
      expect.stringMatching(/^git version \d+/),
      'no-debian-npm',
      'false',
    ]);
  });

  it('a base that cannot be pulled: says how to build on a local one', async () => {
    // .invalid never resolves, wherever the test runs.
    const build = await berth(home, ['app', 'base', '--runtime', 'python', '--base', 'registry.invalid/berth/none:1']);
    expect(build.code).toBe(1);
    expect(build.stderr).toContain('The base image could not be pulled');
    expect(build.stderr).toContain(`bash ${ROOT}/scripts/base-images.sh bookworm`);
    expect(build.stderr).toContain('berth app base --runtime python --base berth-base:bookworm');
  });

  it('are not VM templates, and their status tells which the engine has', async () => {
    expect(existsSync(join(ROOT, 'templates', 'apps', 'python', 'Dockerfile'))).toBe(true);
    const templates = listTemplates();
    expect(templates).toContain('agent');
    expect(templates).not.toContain('apps');
    expect(templates.some((t) => ['python', 'node'].includes(t))).toBe(false);
    const ctx = openBerth(home);
    expect(await appBaseStatus(ctx)).toEqual([
      { runtime: 'python', image: APP_BASE_IMAGES.python, present: true },
      { runtime: 'node', image: APP_BASE_IMAGES.node, present: true },
    ]);
    const missing = `berth-app-node-test:${unique('absent')}`;
    expect((await berth(home, ['config', 'set', 'apps.node-image', missing])).code).toBe(0);
    expect((await appBaseStatus(ctx)).find((s) => s.runtime === 'node')).toEqual({ runtime: 'node', image: missing, present: false });
  });
});
