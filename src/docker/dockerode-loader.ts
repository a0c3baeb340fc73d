import { createRequire } from 'node:module';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);

/**
 * dockerode loads BuildKit's gRPC session and docker-modem loads ssh2 when they are
 * first required, ~110 ms of start-up that only BuildKit builds and ssh:// engines
 * use. Each is replaced in the module cache by a function that loads the real module
 * on its first call.
 */
function deferModule(path: string): void {
  if (require.cache[path]) return;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const deferred = (...args: unknown[]) => {
    if (!real) {
      delete require.cache[path];
      real = require(path) as (...args: unknown[]) => unknown;
    }
    return real(...args);
  };
  require.cache[path] = { id: path, filename: path, loaded: true, exports: deferred } as NodeJS.Module;
}

export function loadDockerode(): typeof Docker {
  const main = require.resolve('dockerode');
  const fromDockerode = createRequire(main);
  deferModule(fromDockerode.resolve('./session'));
  deferModule(createRequire(fromDockerode.resolve('docker-modem')).resolve('./ssh'));
  return require('dockerode') as typeof Docker;
}
