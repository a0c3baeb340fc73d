import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABEL } from '../../docker/labels.js';
import { BerthError, invalidInput } from '../../errors.js';
import { providePackages, readTemplatePackages } from '../../host/npm-packages.js';
import { packageRoot } from '../../package-root.js';
import { checkImageRef } from '../../values/image-ref.js';
import { printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';

/** A template's pinned packages, put in its build context (see src/host/npm-packages.ts). */
const PACKAGES_FILE = 'packages.json';

/** The template built from Dockerfile.vm at the package root. */
export const DEFAULT_TEMPLATE = 'default';

export function listTemplates(): string[] {
  const dir = join(packageRoot(), 'templates');
  const named = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'Dockerfile')))
    .map((d) => d.name);
  return [DEFAULT_TEMPLATE, ...named.sort()];
}

export function checkTemplateName(name: string): string {
  const templates = listTemplates();
  if (!templates.includes(name)) {
    throw invalidInput('UNKNOWN_TEMPLATE', `There is no template "${printable(name)}".`, `Templates: ${templates.join(', ')}.`);
  }
  return name;
}

export function templateTag(template: string): string {
  return template === DEFAULT_TEMPLATE ? 'berth-vm:latest' : `berth-vm-${template}:latest`;
}

export interface BuildResult {
  tag: string;
  template: string;
  base: string | null;
  imageId: string;
  sizeBytes: number;
  seconds: number;
}

/**
 * An image built from a folder other than a VM template's (an app base, templates/apps/NAME): its
 * Dockerfile and packages.json alone, without the VM's entrypoint and helper, and labelled with
 * `labels` instead of a template name (so it can never be taken for a VM image).
 */
export interface BuildSource {
  /** The absolute folder with the Dockerfile (and packages.json, if it pins any). */
  dir: string;
  /** Its name in the result (`template`) and in errors. */
  name: string;
  labels: Record<string, string>;
  /** The command that builds it again on a local base, shown when its base cannot be pulled (`--base …` is appended). */
  rebuild: string;
}

/**
 * Builds a template's image, sending Docker only the template's files, the shared entrypoint and
 * the VM helper; or, given a `source`, that folder's files alone (then `tag` is required).
 */
export async function buildImage(
  ctx: Berth,
  options: { template?: string; base?: string; tag?: string; source?: BuildSource },
  onLine: (line: string) => void = () => undefined,
): Promise<BuildResult> {
  const source = options.source;
  const template = source ? source.name : checkTemplateName(options.template ?? DEFAULT_TEMPLATE);
  if (source && !options.tag) throw new Error(`buildImage: no tag given for ${source.name}`);
  const tag = options.tag ? checkImageRef(options.tag) : templateTag(template);
  const base = options.base ? checkImageRef(options.base) : null;
  const runtime = await ctx.runtime();
  const root = packageRoot();
  const context = await mkdtemp(join(tmpdir(), 'berth-build-'));
  const started = Date.now();
  try {
    if (template === DEFAULT_TEMPLATE && !source) {
      await copyFile(join(root, 'Dockerfile.vm'), join(context, 'Dockerfile'));
    } else {
      const dir = source ? source.dir : join(root, 'templates', template);
      for (const file of await readdir(dir)) if (file !== PACKAGES_FILE) await copyFile(join(dir, file), join(context, file));
      // Pinned packages the template names: fetched on the host (cached), never in the build container.
      if (existsSync(join(dir, PACKAGES_FILE))) {
        const list = await readTemplatePackages(join(dir, PACKAGES_FILE));
        await providePackages(list, join(ctx.store.home, 'cache', 'packages'), context, onLine);
      }
    }
    if (!source) {
      await copyFile(join(root, 'templates', 'entrypoint.sh'), join(context, 'entrypoint.sh'));
      await copyFile(join(root, 'templates', 'vm-helper.py'), join(context, 'vm-helper'));
    }
    const labels: Record<string, string> = source
      ? { ...source.labels, [LABEL.managed]: 'true' }
      : { [LABEL.managed]: 'true', [LABEL.template]: template };
    const imageId = await runtime
      .buildImage({ context, src: await readdir(context) }, { tag, buildArgs: base ? { BASE_IMAGE: base } : {}, labels }, onLine)
      .catch((err: unknown) => {
        throw pullFailure(err, template, source?.rebuild) ?? err;
      });
    const image = await runtime.image(tag);
    return {
      tag,
      template,
      base,
      imageId: image?.id ?? imageId,
      sizeBytes: image?.size ?? 0,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

// What the engine says when the FROM image cannot be fetched: no registry, no DNS, no route, refused.
const PULL_FAILURE =
  /pull access denied|failed to resolve|no such host|dial tcp|i\/o timeout|TLS handshake|manifest unknown|toomanyrequests|connection refused|Get "https?:\/\//i;

/** A build that failed because its base could not be pulled: the same error, with the way out where no registry answers. */
function pullFailure(err: unknown, template: string, rebuild?: string): BerthError | null {
  if (!(err instanceof BerthError) || err.code !== 'IMAGE_BUILD_FAILED' || !PULL_FAILURE.test(err.message)) return null;
  const script = join(packageRoot(), 'scripts', 'base-images.sh');
  const local = template === 'minimal' ? 'busybox' : 'bookworm';
  const again = template === DEFAULT_TEMPLATE ? '' : ` --template ${template}`;
  const build = rebuild
    ? `  ${rebuild} --base berth-base:${local}`
    : `  berth up --base berth-base:${local}   (or: berth image build${again} --base berth-base:${local})`;
  return new BerthError(
    err.code,
    `${err.message}\nThe base image could not be pulled: no registry answers from this host.`,
    `Make a local base with no registry and build on it:\n  bash ${script} ${local}\n${build}\n${err.hint}`,
  );
}

export interface ImageView {
  id: string;
  tags: string[];
  /** The VM template it was built from; app-RUNTIME for an app base; - for neither. */
  template: string;
  sizeBytes: number;
  createdAt: string;
}

export async function listImages(ctx: Berth): Promise<ImageView[]> {
  const runtime = await ctx.runtime();
  const images = await runtime.images([`${LABEL.managed}=true`]);
  return images
    .map((i) => ({
      id: i.id.replace(/^sha256:/, '').slice(0, 12),
      tags: i.tags.filter((t) => t !== '<none>:<none>'),
      template: i.labels[LABEL.template] ?? (i.labels[LABEL.appBase] ? `app-${i.labels[LABEL.appBase]}` : '-'),
      sizeBytes: i.size,
      createdAt: new Date(i.created * 1000).toISOString(),
    }))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
