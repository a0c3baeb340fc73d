/**
 * What an app's code is made of, from each source a user may name, as one clean tar (owned by the
 * app's user, nothing outside its folder, within the size and count limits) or, for image
 * sources, an image on the app's engine. Nothing here writes on the host's filesystem, and no
 * user's path is followed by the host: a VM's folder is read through its engine, a repository is
 * cloned inside a build sandbox.
 */
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { APP_DIR, buildContainerSpec } from '../../docker/app-spec.js';
import { type CleanArchive, cleanArchive } from '../../docker/archive.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { checkGitSource, checkImageAllowed, vmPath } from '../../domain/apps.js';
import { type ArchiveLimits, ArchiveRefusal, ArchiveRules } from '../../domain/archive-paths.js';
import { findVm } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { App } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { printable } from '../../values/names.js';
import { formatSize } from '../../values/sizes.js';
import type { Berth } from '../core/context.js';

export type SourceInput =
  | { kind: 'files'; files: Record<string, string | Buffer> }
  | { kind: 'archive'; data: Buffer }
  | { kind: 'vm'; vm: string; path: string }
  | { kind: 'git'; url: string; branch: string }
  | { kind: 'image'; image: string }
  | { kind: 'upload'; data: NodeJS.ReadableStream };

/** Most entries an app's code may have. */
const MAX_ENTRIES = 20_000;

export async function codeLimits(ctx: Berth): Promise<ArchiveLimits> {
  const config = effectiveConfig((await ctx.store.read()).config);
  return { maxEntries: MAX_ENTRIES, maxBytes: config['apps.max-upload'] };
}

/** Files given by name and content (the API's JSON, the chat's single file) as a clean tar. */
export async function filesArchive(files: Record<string, string | Buffer>, limits: ArchiveLimits): Promise<CleanArchive> {
  const names = Object.keys(files);
  if (names.length === 0) throw new BerthError('INVALID_APP_SOURCE', 'No files were given.', 'Give at least the file to run.');
  const packer = pack();
  const chunks: Buffer[] = [];
  packer.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    packer.on('end', resolve);
    packer.on('error', reject);
  });
  let size = 0;
  for (const name of names) {
    const body = Buffer.from(files[name] ?? '');
    size += body.length;
    if (size > limits.maxBytes)
      throw new BerthError(
        'ARCHIVE_UNSAFE',
        `The files are larger than ${formatSize(limits.maxBytes)} together.`,
        'Send fewer or smaller files, or an archive.',
      );
    packer.entry({ name, type: 'file', mode: 0o644 }, body);
  }
  packer.finalize();
  await done;
  // The names are checked as an archive's are (no "..", no absolute path).
  return cleanArchive(Buffer.concat(chunks), limits);
}

/** Reads a stream into memory, refusing it past `max` bytes (and ending it there). */
export async function readCapped(stream: NodeJS.ReadableStream, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw new BerthError(
        'ARCHIVE_UNSAFE',
        `${what} is larger than ${formatSize(max)}.`,
        'Deploy a smaller folder (leave out build output and dependencies: berth installs them).',
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A folder of the user's own VM, read through the VM's engine (the VM's own view of its paths). */
export async function vmFolderArchive(
  ctx: Berth,
  login: string,
  vmName: string,
  path: string,
  limits: ArchiveLimits,
): Promise<CleanArchive> {
  const state = await ctx.store.read();
  const vm = findVm(state, `${login}/${vmName}`);
  const folder = vmPath(path, login);
  const backend = await ctx.backend();
  const container = await backend.containerOf(vm);
  if (!container)
    throw new BerthError(
      'APP_NOT_RUNNING',
      `The VM ${login}/${vmName} has no container to read from.`,
      `Start it first: berth vm start ${login}/${vmName}`,
    );
  const engine = await backend.engineOf(vm);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 120_000);
  try {
    const tar = await engine.archiveFrom(container, `${folder}/.`, abort.signal).catch((err: unknown) => {
      if (/not found|no such file/i.test((err as Error).message))
        throw new BerthError(
          'PATH_NOT_FOUND',
          `There is no folder ${printable(folder)} in the VM ${login}/${vmName}.`,
          'Check the path with ls in the VM.',
        );
      throw err;
    });
    // The engine's tar carries the VM's owners and modes: made clean (and checked) like an upload.
    const data = await readCapped(tar, limits.maxBytes + limits.maxEntries * 1024 + 1024 * 1024, `The folder ${printable(folder)}`);
    return await cleanArchive(data, limits);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A git repository's branch, cloned inside a hardened build container on berth's network (the
 * egress policy and firewall hold), within the build's deadline; then read out as a clean tar.
 */
export async function gitArchive(
  ctx: Berth,
  engine: DockerRuntime,
  app: Pick<App, 'id' | 'user' | 'userId' | 'plan' | 'node'>,
  source: { url: string; branch: string },
  limits: ArchiveLimits,
  onLine: (line: string) => void,
): Promise<CleanArchive> {
  const { url, branch } = checkGitSource(source.url, source.branch);
  const state = await ctx.store.read();
  const config = effectiveConfig(state.config);
  const apps = (await ctx.backend()).apps;
  const network = await apps.network(engine, app.node);
  await apps.provide(engine, config['apps.python-image']);
  const script = [
    'set -e',
    'export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1',
    // Only http(s): no file://, ssh or ext transports, and no submodules.
    'git -c protocol.allow=never -c protocol.https.allow=always -c protocol.http.allow=always clone --quiet --depth 1 --single-branch --no-tags --branch "$BERTH_GIT_BRANCH" -- "$BERTH_GIT_URL" /app',
    'rm -rf /app/.git',
    'echo "berth: cloned"',
  ].join('\n');
  const spec = buildContainerSpec({
    appId: app.id,
    user: app.user,
    userId: app.userId,
    plan: app.plan,
    instanceId: state.instanceId,
    image: config['apps.python-image'],
    network,
    resources: { cpu: config['apps.build-cpu'], memoryBytes: config['apps.build-ram'], pids: 256 },
    script,
    env: { BERTH_GIT_URL: url, BERTH_GIT_BRANCH: branch, HOME: '/tmp' },
  });
  const id = await engine.createContainer(spec);
  try {
    onLine(`cloning ${url} (${branch})`);
    const { exitCode, tail } = await runToEnd(engine, id, config['apps.build-timeout'] * 1000, onLine);
    if (exitCode !== 0)
      throw new BerthError(
        'APP_BUILD_FAILED',
        `The repository could not be cloned (exit code ${exitCode}):\n${tail}`,
        'Check the URL and the branch, and that the egress policy lets the host be reached.',
      );
    const data = await readCapped(
      await engine.archiveFrom(id, `${APP_DIR}/.`),
      limits.maxBytes + limits.maxEntries * 1024 + 1024 * 1024,
      'The repository',
    );
    return await cleanArchive(data, limits);
  } finally {
    await engine.removeContainer(id, { volumes: true }).catch(() => undefined);
  }
}

/** Output lines kept for a failed build's message. */
const TAIL_LINES = 30;

/**
 * Starts a created container and waits for it to end, up to `ms` (then kills it: APP_BUILD_TIMEOUT);
 * each output line goes to `onLine` (cut to 500 characters); the last lines come back.
 */
export async function runToEnd(
  engine: DockerRuntime,
  id: string,
  ms: number,
  onLine: (line: string) => void,
): Promise<{ exitCode: number; tail: string }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const tail: string[] = [];
  let logs: NodeJS.ReadableStream | null = null;
  try {
    await engine.startContainer(id);
    logs = await engine.logs(id, { follow: true, tail: 0 }).catch(() => null);
    let pending = '';
    const take = (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > 4096) {
        lines.push(pending);
        pending = '';
      }
      for (const raw of lines) {
        const line = printableLine(raw);
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        onLine(line);
      }
    };
    if (logs) {
      const sink = (chunk: Buffer) => take(chunk.toString('utf8'));
      const { Writable } = await import('node:stream');
      const out = new Writable({
        write: (c, _e, cb) => {
          sink(c as Buffer);
          cb();
        },
      });
      engine.demux(logs, out, out);
      logs.on('error', () => undefined);
    }
    let exitCode: number;
    try {
      exitCode = await engine.waitContainer(id, abort.signal);
    } catch (err) {
      if (!abort.signal.aborted) throw err;
      await engine.killContainer(id);
      throw new BerthError(
        'APP_BUILD_TIMEOUT',
        `The build ran longer than ${Math.round(ms / 1000)} s and was killed. Its last lines:\n${tail.join('\n')}`,
        'Make it lighter, or raise apps.build-timeout.',
      );
    }
    // What the follow had not delivered yet: the logs' end read once more.
    await new Promise((r) => setTimeout(r, 100));
    if (pending) take('\n');
    return { exitCode, tail: tail.join('\n') };
  } finally {
    clearTimeout(timer);
    (logs as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
  }
}

/** One line of build output, safe to show: control characters dropped, cut at 500. */
function printableLine(raw: string): string {
  let out = '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are what is dropped
  for (const ch of raw.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')) {
    const code = ch.charCodeAt(0);
    if (code >= 0x20 && code !== 0x7f) out += ch;
    else if (ch === '\t') out += ' ';
  }
  return out.slice(0, 500);
}

/** An image the operator allows (apps.images), present on the app's engine. */
export async function allowedImage(ctx: Berth, engine: DockerRuntime, image: string): Promise<string> {
  const patterns = effectiveConfig((await ctx.store.read()).config)['apps.images'];
  checkImageAllowed(patterns, image);
  if (!(await engine.image(image)))
    throw new BerthError(
      'IMAGE_NOT_FOUND',
      `The image ${printable(image)} is not on the engine.`,
      `The operator pulls or loads it first: docker pull ${image}`,
    );
  return image;
}

/**
 * A user's `docker save` archive made safe to load, as a stream: entry names and links checked
 * (nothing outside it), the size capped while it is read, `repositories` dropped and the
 * manifest's names replaced by `repoTag` — an upload can never name, and so replace, another image.
 */
export function safeImageArchive(input: NodeJS.ReadableStream, maxBytes: number, repoTag: string): Readable {
  const rules = new ArchiveRules({ maxEntries: 10_000, maxBytes });
  const parser = extract();
  const packer = pack();
  const fail = (err: unknown) => {
    const message = err instanceof ArchiveRefusal ? err.message : (err as Error).message;
    packer.destroy(
      new BerthError(
        'IMAGE_LOAD_FAILED',
        `The image archive was refused: ${message}.`,
        'Send the output of docker save IMAGE (one image).',
      ),
    );
  };
  (async () => {
    let manifests = 0;
    for await (const entry of parser) {
      const { header } = entry;
      const kind =
        header.type === 'file'
          ? 'file'
          : header.type === 'directory'
            ? 'directory'
            : header.type === 'symlink'
              ? 'symlink'
              : header.type === 'link'
                ? 'hardlink'
                : 'other';
      const name = rules.check({ name: header.name, kind, target: header.linkname ?? undefined });
      if (name === 'repositories' || name === 'index.json' || name === 'oci-layout') {
        entry.resume();
        continue;
      }
      if (name === 'manifest.json') {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        const manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ RepoTags?: string[] }>;
        if (!Array.isArray(manifest) || manifest.length !== 1) throw new Error('it must hold exactly one image');
        manifest[0] = { ...manifest[0], RepoTags: [repoTag] };
        const body = Buffer.from(JSON.stringify(manifest));
        packer.entry({ name, type: 'file', mode: 0o644 }, body);
        manifests++;
        continue;
      }
      const out = packer.entry({ ...header, name, uid: 0, gid: 0, uname: '', gname: '' });
      if (kind === 'file') {
        for await (const c of entry) {
          rules.addBytes(header.name, (c as Buffer).length);
          if (!out.write(c)) await new Promise<void>((r) => out.once('drain', () => r()));
        }
      } else entry.resume();
      await new Promise<void>((r) => out.end(() => r()));
    }
    if (manifests !== 1) throw new Error('it has no manifest.json (is it the output of docker save?)');
    packer.finalize();
  })().catch(fail);
  input.on('error', (err: Error) => parser.destroy(err));
  (input as Readable).pipe(parser);
  return packer as unknown as Readable;
}

export { Readable };
