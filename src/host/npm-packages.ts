import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { BerthError } from '../errors.js';

/**
 * Packages a template needs in its build context (templates/NAME/packages.json), fetched on the
 * host with the registry's own client (`npm pack NAME@VERSION`), checked against the pinned sha512
 * integrity and kept in a cache under the berth home: the build container downloads nothing (where
 * it cannot reach a registry, as here, the build still works), and a second build fetches nothing.
 */

export const PackagesSchema = z
  .object({
    comment: z.string().optional(),
    npm: z.array(
      z
        .object({
          name: z.string().regex(/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/),
          version: z.string().regex(/^\d+\.\d+\.\d+$/),
          integrity: z.string().regex(/^sha512-[A-Za-z0-9+/=]{86,88}$/),
          as: z.string().regex(/^[a-z0-9._-]+\.tgz$/),
        })
        .strict(),
    ),
  })
  .strict();
export type TemplatePackages = z.infer<typeof PackagesSchema>;

const PACK_TIMEOUT_MS = 15 * 60_000;

async function sha512(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

export async function readTemplatePackages(file: string): Promise<TemplatePackages> {
  const parsed = PackagesSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    throw new BerthError('TEMPLATE_INVALID', `${file} is not a valid package list: ${parsed.error.issues[0]?.message}.`, 'Fix the file.');
  }
  return parsed.data;
}

/** Puts each package's tarball into `context` under its `as` name, from the cache or fetched. */
export async function providePackages(
  list: TemplatePackages,
  cacheDir: string,
  context: string,
  onLine: (line: string) => void,
): Promise<void> {
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  for (const pkg of list.npm) {
    const spec = `${pkg.name}@${pkg.version}`;
    const cached = join(cacheDir, `${createHash('sha256').update(pkg.integrity).digest('hex').slice(0, 24)}.tgz`);
    const have = await stat(cached).catch(() => null);
    if (!have || (await sha512(cached)) !== pkg.integrity) {
      onLine(`fetching ${spec} (npm pack)…`);
      const temp = await mkdtemp(join(cacheDir, 'pack-'));
      try {
        const packed = await execa('npm', ['pack', spec, '--pack-destination', temp, '--json', '--silent'], {
          timeout: PACK_TIMEOUT_MS,
          reject: false,
          stdin: 'ignore',
        });
        if (packed.exitCode !== 0) {
          throw new BerthError(
            'PACKAGE_FETCH_FAILED',
            `npm pack ${spec} failed: ${String(packed.stderr).trim().split('\n').slice(-1)[0] ?? `exit code ${packed.exitCode}`}.`,
            'The host needs npm and a registry it can reach (npm_config_registry for a mirror).',
          );
        }
        const [info] = JSON.parse(String(packed.stdout)) as Array<{ filename: string }>;
        const file = join(temp, info?.filename ?? '');
        const got = await sha512(file);
        if (got !== pkg.integrity) {
          throw new BerthError(
            'PACKAGE_INTEGRITY',
            `${spec} from the registry does not match the pinned integrity (got ${got.slice(0, 20)}…).`,
            'Do not build with it: check the registry (or mirror) in use.',
          );
        }
        await rename(file, cached);
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    } else {
      onLine(`${spec}: from the cache`);
    }
    await copyFile(cached, join(context, pkg.as));
  }
}
