import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../errors.js';
import type { EngineTls } from './runtime.js';

/** Docker's client configuration directory (DOCKER_CONFIG, else ~/.docker). */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(homedir(), '.docker');
}

async function tlsFiles(dir: string, what: string): Promise<EngineTls> {
  const read = (name: string) =>
    readFile(join(dir, name), 'utf8').catch(() => {
      throw new BerthError(
        'ENGINE_TLS_MISSING',
        `${what} needs ${join(dir, name)}, which cannot be read.`,
        "Put ca.pem, cert.pem and key.pem there (Docker's DOCKER_CERT_PATH layout), or give another --tls-dir.",
      );
    });
  const [ca, cert, key] = await Promise.all([read('ca.pem'), read('cert.pem'), read('key.pem')]);
  return { ca, cert, key };
}

/**
 * Where a node's engine is, the way the docker CLI finds it: `unix:///…` and `ssh://…` as they
 * are, `tcp://…` only with TLS (the certificates in `tlsDir`, default ~/.docker), anything else a
 * Docker context name, read from the CLI's context store (its host and TLS files).
 */
export async function resolveEndpoint(endpoint: string, tlsDir?: string): Promise<{ address: string; tls?: EngineTls }> {
  if (/^(unix|ssh):\/\//.test(endpoint)) return { address: endpoint };
  if (endpoint.startsWith('tcp://')) {
    return { address: endpoint, tls: await tlsFiles(tlsDir || dockerConfigDir(), `The engine at ${endpoint}`) };
  }
  const { createHash } = process.getBuiltinModule('node:crypto');
  const id = createHash('sha256').update(endpoint).digest('hex');
  const metaPath = join(dockerConfigDir(), 'contexts', 'meta', id, 'meta.json');
  const meta = await readFile(metaPath, 'utf8')
    .then((text) => JSON.parse(text) as { Endpoints?: { docker?: { Host?: string } } })
    .catch(() => {
      throw new BerthError(
        'DOCKER_CONTEXT_NOT_FOUND',
        `There is no Docker context named "${endpoint}" (no ${metaPath}).`,
        'Make it with docker context create, or give ssh://USER@HOST or tcp://HOST:2376.',
      );
    });
  const host = meta.Endpoints?.docker?.Host ?? '';
  if (!host)
    throw new BerthError(
      'DOCKER_CONTEXT_INVALID',
      `The Docker context "${endpoint}" has no engine address.`,
      'Recreate it with docker context create.',
    );
  if (!host.startsWith('tcp://')) return { address: host };
  return { address: host, tls: await tlsFiles(join(dockerConfigDir(), 'contexts', 'tls', id, 'docker'), `The context "${endpoint}"`) };
}

/** The text form berth stores (checked, not resolved: a context may be made later). */
export function checkEndpoint(input: string): string {
  const text = input.trim();
  const ok =
    /^unix:\/\/\/[\w./-]+$/.test(text) ||
    /^tcp:\/\/[\w.-]+:\d{1,5}$/.test(text) ||
    /^ssh:\/\/(?:[\w.-]+@)?[\w.-]+(?::\d{1,5})?$/.test(text) ||
    /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,63}$/.test(text);
  if (!ok) {
    throw new BerthError(
      'INVALID_ENDPOINT',
      `"${text.slice(0, 80)}" is not a Docker engine address or context name.`,
      'Give a Docker context name, ssh://USER@HOST, tcp://HOST:2376 (with TLS certificates) or unix:///path/docker.sock.',
    );
  }
  return text;
}
