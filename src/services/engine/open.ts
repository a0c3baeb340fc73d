import type { DockerRuntime } from '../../docker/runtime.js';
import { berthHome } from '../../home.js';
import { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { spoolNotifier } from '../core/notice-spool.js';
import type { Notifier } from '../core/notify.js';
import type { VmBackend } from '../core/vm-backend.js';

/**
 * A context for one berth home. The engine is connected and the backend chosen on first use, once
 * (from `docker.host` and `engine` as the state says then): a process that changes them starts
 * again to use the new ones. Without a notifier (the CLI), notices wait in the outbox for the daemon.
 * `directExec`: see DockerRuntime.open (a one-shot exec that should not load dockerode).
 */
export function openBerth(home: string = berthHome(), notifier?: Notifier, engine: { directExec?: boolean } = {}): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  let backend: Promise<VmBackend> | undefined;
  const ctx: Berth = {
    store,
    notifier: notifier ?? spoolNotifier(home),
    runtime: () => {
      // Loaded here: commands that never reach the engine (plan list…) start without it.
      runtime ??= Promise.all([store.read(), import('../../docker/runtime.js')]).then(([state, { DockerRuntime }]) =>
        DockerRuntime.open(effectiveConfig(state.config)['docker.host'], engine),
      );
      return runtime;
    },
    backend: () => {
      // The backends (and the engine, Swarm and host modules under them) load here: commands that
      // never reach the engine (plan list…) start without them.
      backend ??= store
        .read()
        .then(async (state) =>
          effectiveConfig(state.config).engine === 'swarm'
            ? (await import('./swarm-backend.js')).swarmBackend(ctx)
            : (await import('./local-backend.js')).localBackend(ctx),
        );
      return backend;
    },
  };
  return ctx;
}
