import { DockerRuntime } from '../../docker/runtime.js';
import { berthHome } from '../../home.js';
import { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { spoolNotifier } from '../core/notice-spool.js';
import type { Notifier } from '../core/notify.js';
import type { VmBackend } from '../core/vm-backend.js';
import { localBackend } from './local-backend.js';
import { swarmBackend } from './swarm-backend.js';

/**
 * A context for one berth home. The engine is connected and the backend chosen on first use, once
 * (from `docker.host` and `engine` as the state says then): a process that changes them starts
 * again to use the new ones. Without a notifier (the CLI), notices wait in the outbox for the daemon.
 */
export function openBerth(home: string = berthHome(), notifier?: Notifier): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  let backend: Promise<VmBackend> | undefined;
  const ctx: Berth = {
    store,
    notifier: notifier ?? spoolNotifier(home),
    runtime: () => {
      runtime ??= store.read().then((state) => DockerRuntime.open(effectiveConfig(state.config)['docker.host']));
      return runtime;
    },
    backend: () => {
      backend ??= store.read().then((state) => (effectiveConfig(state.config).engine === 'swarm' ? swarmBackend(ctx) : localBackend(ctx)));
      return backend;
    },
  };
  return ctx;
}
