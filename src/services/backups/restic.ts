import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { LABEL } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { BerthError } from '../../errors.js';

/**
 * restic, run where a home is: in a short-lived hardened container on the home's engine, from a
 * small image berth makes from the host's own restic (berth-base:busybox, the restic binary and
 * the C library it links, CA certificates). Secrets (the repository's password and credentials)
 * go in on the container's standard input, never its environment, command line or `docker inspect`.
 */

/** The host's restic (provision installs it); BERTH_RESTIC names another (tests, odd layouts). */
export const resticBinary = (env: NodeJS.ProcessEnv = process.env) => env.BERTH_RESTIC || '/usr/bin/restic';

const BASE = 'berth-base:busybox';

/** Files the image needs from the host: restic, and what a dynamically linked restic loads. */
const LIBRARIES = [
  '/lib/x86_64-linux-gnu/libc.so.6',
  '/lib64/ld-linux-x86-64.so.2',
  '/lib/aarch64-linux-gnu/libc.so.6',
  '/lib/ld-linux-aarch64.so.1',
];
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Reads `KEY=VALUE` lines from standard input until an empty one, exports them, empties the home
 * when asked (a restore that replaces it), and runs restic with the arguments given.
 */
export const LAUNCHER = [
  'while IFS= read -r line && [ -n "$line" ]; do export "$line"; done',
  // Asked only how much the home can hold (used + available to its owner, in bytes): nothing else runs.
  'if [ "$BERTH_MEASURE" = 1 ]; then df -k /data | awk \'NR==2 {print ($3 + $4) * 1024}\'; exit 0; fi',
  'if [ "$BERTH_EMPTY_TARGET" = 1 ]; then find /data -mindepth 1 -maxdepth 1 -exec rm -rf {} + || exit 71; fi',
  'exec /usr/bin/restic "$@"',
].join('\n');

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/** The image's tag: restic's own bytes decide it, so an upgraded restic gets a new image. */
async function imageTag(binary: string): Promise<string> {
  const bytes = await readFile(binary).catch(() => null);
  if (!bytes)
    throw new BerthError(
      'BACKUP_NO_RESTIC',
      `restic is not installed on this host (${binary} is missing).`,
      'Install it: apt-get install restic',
    );
  return `berth-restic:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

/** The backup image on `runtime` (berth's own engine), made from the host's restic when missing. */
export async function resticImage(runtime: DockerRuntime, binary = resticBinary()): Promise<string> {
  const tag = await imageTag(binary);
  if (await runtime.image(tag)) return tag;
  if (!(await runtime.image(BASE)))
    throw new BerthError(
      'BACKUP_NO_BASE',
      `Backups run in an image made on ${BASE}, which this engine does not have.`,
      'Make it: bash scripts/base-images.sh busybox',
    );
  const tar = pack();
  // Entries are queued, not awaited: the stream is read only once the engine takes it.
  const add = async (from: string, to: string, mode: number) => {
    tar.entry({ name: to, mode }, await readFile(from));
  };
  await add(binary, 'restic', 0o755);
  const libs: string[] = [];
  for (const lib of LIBRARIES)
    if (await exists(lib)) {
      const name = `lib/${libs.length}`;
      await add(lib, name, 0o755);
      libs.push(`COPY ${name} ${lib}`);
    }
  const certs = await exists(CA_BUNDLE);
  if (certs) await add(CA_BUNDLE, 'ca.crt', 0o644);
  const dockerfile = [
    `FROM ${BASE}`,
    'COPY restic /usr/bin/restic',
    ...libs,
    ...(certs ? [`COPY ca.crt ${CA_BUNDLE}`] : []),
    `LABEL ${LABEL.managed}=true`,
    'USER 0',
    '',
  ].join('\n');
  tar.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
  tar.finalize();
  await runtime.buildImage(tar as unknown as Readable, { tag, buildArgs: {}, labels: { [LABEL.managed]: 'true' } }, () => undefined);
  return tag;
}

export interface ResticRun {
  image: string;
  /** restic's arguments (the repository and password come from `secrets`). */
  args: string[];
  /** Passed on standard input, exported in the container's shell only. */
  secrets: Record<string, string>;
  /** The home's volume at /data: read-only for a backup, writable for a restore. */
  home?: { volume: string; readOnly: boolean; empty?: boolean };
  /** Only measure the home's room (df), run nothing else. */
  measure?: boolean;
  /** A host directory holding the repository (a local one), mounted at the same path. */
  repositoryPath?: string;
  /** The capabilities restic needs: reading every file, or owning what it restores. */
  caps: string[];
  /** none for a local repository; bridge to reach a remote one. */
  network: 'none' | 'bridge';
  labels: Record<string, string>;
  /** Where stdout goes (a dump streamed out); collected and returned when absent. */
  stdout?: Writable;
  signal?: AbortSignal;
}

/** Most stdout kept when it is collected (restic's --json output). */
const MAX_COLLECTED = 32 * 1024 ** 2;

/** Runs restic once; its exit code, collected stdout and stderr's tail. Fails (BACKUP_FAILED) only when asked to. */
export async function runRestic(runtime: DockerRuntime, run: ResticRun): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const { Writable } = await import('node:stream');
  const chunks: Buffer[] = [];
  let size = 0;
  const collect = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (size < MAX_COLLECTED) chunks.push(chunk);
      size += chunk.length;
      done();
    },
  });
  const mounts: Docker.MountSettings[] = [];
  if (run.home) mounts.push({ Type: 'volume', Source: run.home.volume, Target: '/data', ReadOnly: run.home.readOnly });
  if (run.repositoryPath) mounts.push({ Type: 'bind', Source: run.repositoryPath, Target: run.repositoryPath, ReadOnly: false });
  const env = {
    ...(run.measure ? {} : run.secrets),
    RESTIC_CACHE_DIR: '/tmp/cache',
    ...(run.home?.empty ? { BERTH_EMPTY_TARGET: '1' } : {}),
    ...(run.measure ? { BERTH_MEASURE: '1' } : {}),
  };
  const stdin = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]/g, '')}`)
    .join('\n')}\n\n`;
  const options: Docker.ContainerCreateOptions = {
    Image: run.image,
    Entrypoint: ['/bin/sh', '-c', LAUNCHER, 'berth-restic'],
    Cmd: run.args,
    User: '0',
    WorkingDir: '/',
    Env: ['PATH=/usr/bin:/bin', 'HOME=/tmp'],
    Labels: run.labels,
    Healthcheck: { Test: ['NONE'] },
    HostConfig: {
      NetworkMode: run.network,
      CapDrop: ['ALL'],
      CapAdd: run.caps,
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=1g' },
      Mounts: mounts,
      PidsLimit: 256,
      Memory: 2 * 1024 ** 3,
      MemorySwap: 2 * 1024 ** 3,
      NanoCpus: 1e9,
      LogConfig: { Type: 'none', Config: {} },
    },
  } as Docker.ContainerCreateOptions;
  const result = await runtime.runAttached(options, {
    stdin,
    stdout: run.stdout ?? collect,
    ...(run.signal ? { signal: run.signal } : {}),
  });
  return { exitCode: result.exitCode, stdout: Buffer.concat(chunks).toString('utf8'), stderr: result.stderr };
}

/** A failed run as the operator reads it: what was done, restic's last lines. */
export function resticFailed(what: string, result: { exitCode: number; stderr: string }): BerthError {
  const tail = result.stderr
    .trim()
    .split('\n')
    .filter((l) => l.trim() && !/^(reading repository password|repository [0-9a-f]+ opened)/.test(l))
    .slice(-6)
    .join('\n');
  return new BerthError('BACKUP_FAILED', `${what} failed (restic exited ${result.exitCode}).`, tail || 'See berth backup check.');
}
