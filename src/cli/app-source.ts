/**
 * `berth app deploy`'s source, from its arguments: exactly one of local files or a folder, an
 * archive, a VM's folder, a git repository, an allowed image, or a `docker save` archive. Local
 * files are read here, on the operator's machine, within the host's upload limit (refused before
 * they are read past it); everything else is checked by the apps service.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { checkGitSource } from '../domain/apps.js';
import type { ArchiveLimits } from '../domain/archive-paths.js';
import { BerthError, invalidInput } from '../errors.js';
import type { SourceInput } from '../services/apps/apps.js';
import { printable } from '../values/names.js';
import { formatSize } from '../values/sizes.js';

export interface SourceFlags {
  archive?: string;
  'from-vm'?: string;
  git?: string;
  branch?: string;
  image?: string;
  'image-archive'?: string;
}

/** What a person may give, as the hint of every "which source?" error says. */
export const SOURCE_CHOICES =
  'Give exactly one source: FILES (files, or one folder), --archive FILE, --from-vm VM:PATH, --git URL [--branch B], --image REF or --image-archive FILE.';

/** Folders a deploy of a local folder leaves out: version control, dependencies and caches berth rebuilds. */
export const SKIPPED_FOLDERS: ReadonlySet<string> = new Set(['.git', 'node_modules', '.venv', '__pycache__']);

/** Which source the arguments name, refusing none or several (before anything is read). */
export function chosenSource(files: readonly string[], flags: SourceFlags): string {
  const given = [
    ...(files.length > 0 ? ['FILES'] : []),
    ...(['archive', 'from-vm', 'git', 'image', 'image-archive'] as const).filter((k) => flags[k] !== undefined).map((k) => `--${k}`),
  ];
  if (given.length === 0) throw invalidInput('INVALID_APP_SOURCE', 'The deploy names no source.', SOURCE_CHOICES);
  if (given.length > 1)
    throw invalidInput('INVALID_APP_SOURCE', `The deploy names ${given.length} sources: ${given.join(', ')}.`, SOURCE_CHOICES);
  if (flags.branch !== undefined && flags.git === undefined)
    throw invalidInput('INVALID_APP_SOURCE', '--branch goes with --git.', 'Deploy a repository: --git URL --branch NAME.');
  const [which = ''] = given;
  if (which === '--git') checkGitSource(flags.git as string, flags.branch ?? 'main');
  if (which === '--from-vm') vmSource(flags['from-vm'] as string);
  return which;
}

/** `VM:PATH` → the VM's name and the folder in it. */
function vmSource(text: string): { vm: string; path: string } {
  const colon = text.indexOf(':');
  const vm = colon < 0 ? '' : text.slice(0, colon);
  const path = colon < 0 ? '' : text.slice(colon + 1);
  if (!vm || !path)
    throw invalidInput(
      'INVALID_APP_SOURCE',
      `"${printable(text)}" is not VM:PATH.`,
      "Name the user's VM and the folder in it, e.g. --from-vm main:~/mybot.",
    );
  return { vm, path };
}

/** The source, read (local files and archives) or named (the rest). */
export async function readSource(
  files: readonly string[],
  flags: SourceFlags,
  limits: { code: ArchiveLimits; maxImageUpload: number },
): Promise<SourceInput> {
  const which = chosenSource(files, flags);
  switch (which) {
    case 'FILES':
      return { kind: 'files', files: await localFiles(files, limits.code) };
    case '--archive': {
      const file = flags.archive as string;
      const size = (await regularFile(file)).size;
      if (size > limits.code.maxBytes) throw tooLarge(`The archive ${file}`, limits.code.maxBytes);
      return { kind: 'archive', data: await readFile(file) };
    }
    case '--from-vm':
      return { kind: 'vm', ...vmSource(flags['from-vm'] as string) };
    case '--git':
      return { kind: 'git', url: flags.git as string, branch: flags.branch ?? 'main' };
    case '--image':
      return { kind: 'image', image: flags.image as string };
    default: {
      const file = flags['image-archive'] as string;
      if (limits.maxImageUpload === 0)
        throw new BerthError(
          'IMAGE_UPLOAD_OFF',
          'Image uploads are off on this host.',
          'Deploy code, or an image the operator allows (berth config get apps.images).',
        );
      const size = (await regularFile(file)).size;
      if (size > limits.maxImageUpload)
        throw new BerthError(
          'IMAGE_LOAD_FAILED',
          `The image archive ${printable(file, 200)} is ${formatSize(size)}, more than apps.max-image-upload (${formatSize(limits.maxImageUpload)}).`,
          'Make the image smaller, or raise the limit: berth config set apps.max-image-upload 1g',
        );
      return { kind: 'upload', data: createReadStream(file) };
    }
  }
}

function tooLarge(what: string, max: number): BerthError {
  return new BerthError(
    'ARCHIVE_UNSAFE',
    `${printable(what, 200)} holds more than apps.max-upload (${formatSize(max)}).`,
    'Leave out build output and dependencies (berth installs them), or raise the limit: berth config set apps.max-upload 100m',
  );
}

async function regularFile(path: string) {
  const info = await stat(path).catch(() => null);
  if (!info) throw new BerthError('INVALID_APP_SOURCE', `There is no file ${printable(path, 200)}.`, 'Check the path.');
  if (!info.isFile())
    throw new BerthError('INVALID_APP_SOURCE', `${printable(path, 200)} is not a file.`, 'Give the path of the archive file.');
  return info;
}

/**
 * FILES: one folder (read recursively, names relative to it, without the skipped folders), or
 * files (each under its own name). Links and other special files are left out. Sizes are added
 * up before anything is read, so a folder past the limit is refused at once.
 */
async function localFiles(paths: readonly string[], limits: ArchiveLimits): Promise<Record<string, Buffer>> {
  const infos = await Promise.all(
    paths.map(async (p) => {
      const info = await stat(p).catch(() => null);
      if (!info) throw new BerthError('INVALID_APP_SOURCE', `There is no file or folder ${printable(p, 200)}.`, 'Check the path.');
      return info;
    }),
  );
  const found: Array<{ name: string; path: string }> = [];
  let bytes = 0;
  const add = (name: string, path: string, size: number, what: string) => {
    bytes += size;
    if (bytes > limits.maxBytes) throw tooLarge(what, limits.maxBytes);
    if (found.length >= limits.maxEntries)
      throw new BerthError(
        'ARCHIVE_UNSAFE',
        `${printable(what, 200)} holds more than ${limits.maxEntries} files.`,
        'Deploy only the code: leave out data and dependencies.',
      );
    found.push({ name, path });
  };
  if (infos.some((i) => i.isDirectory())) {
    if (paths.length > 1)
      throw invalidInput('INVALID_APP_SOURCE', 'FILES names a folder and something else.', 'Give one folder, or files (not folders).');
    const root = resolve(paths[0] as string);
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (!SKIPPED_FOLDERS.has(entry.name)) await walk(path);
        } else if (entry.isFile()) {
          add(relative(root, path).split(sep).join('/'), path, (await lstat(path)).size, `The folder ${paths[0]}`);
        }
      }
    };
    await walk(root);
    if (found.length === 0)
      throw new BerthError(
        'INVALID_APP_SOURCE',
        `The folder ${printable(paths[0] as string, 200)} has no files to deploy.`,
        'Give the folder that holds the code.',
      );
  } else {
    paths.forEach((p, i) => {
      if (!infos[i]?.isFile())
        throw new BerthError('INVALID_APP_SOURCE', `${printable(p, 200)} is not a regular file.`, 'Give files, or one folder.');
      const name = basename(p);
      if (found.some((f) => f.name === name))
        throw invalidInput(
          'INVALID_APP_SOURCE',
          `Two files are named ${printable(name)}.`,
          'Put the code in one folder and deploy the folder.',
        );
      add(name, p, infos[i]?.size ?? 0, 'The files');
    });
  }
  const out: Record<string, Buffer> = {};
  for (const { name, path } of found) out[name] = await readFile(path);
  return out;
}
