import { createRequire } from 'node:module';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);

/**
 * dockerode loads BuildKit's gRPC session, tar-fs and .dockerignore parsing, and docker-modem
 * loads ssh2, when they are first required: ~120 ms of start-up that only builds from a
 * directory, BuildKit and ssh:// engines use. Each is replaced in the module cache by a stand-in
 * that loads the real module on its first use (a call, or a property read for tar-fs).
 */
function deferModule(path: string, kind: 'function' | 'object' = 'function'): void {
  if (require.cache[path]) return;
  let real: Record<string | symbol, unknown> | undefined;
  const load = () => {
    if (!real) {
      delete require.cache[path];
      real = require(path) as Record<string | symbol, unknown>;
    }
    return real;
  };
  const exports =
    kind === 'function'
      ? (...args: unknown[]) => (load() as unknown as (...a: unknown[]) => unknown)(...args)
      : new Proxy({}, { get: (_, name) => load()[name], has: (_, name) => name in load() });
  require.cache[path] = { id: path, filename: path, loaded: true, exports } as NodeJS.Module;
}

export function loadDockerode(): typeof Docker {
  const main = require.resolve('dockerode');
  const fromDockerode = createRequire(main);
  deferModule(fromDockerode.resolve('./session'));
  deferModule(fromDockerode.resolve('@balena/dockerignore'));
  deferModule(fromDockerode.resolve('tar-fs'), 'object');
  deferModule(createRequire(fromDockerode.resolve('docker-modem')).resolve('./ssh'));
  return require('dockerode') as typeof Docker;
}
