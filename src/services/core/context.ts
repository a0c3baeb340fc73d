import type { DockerRuntime } from '../../docker/runtime.js';
import { berthHome } from '../../home.js';
import { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { spoolNotifier } from './notice-spool.js';
import type { Notifier } from './notify.js';

/** What every service works with: the state, and the Docker engine (connected on first use). */
export interface Berth {
  store: StateStore;
  runtime(): Promise<DockerRuntime>;
  /** Where notices to users go (the daemon plugs in its channels). */
  notifier: Notifier;
}

/**
 * Without a notifier (the CLI), notices wait in the outbox for the daemon to deliver. `directExec`:
 * see DockerRuntime.open (a one-shot exec that should not load dockerode).
 */
export function openBerth(home: string = berthHome(), notifier?: Notifier, engine: { directExec?: boolean } = {}): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  return {
    store,
    notifier: notifier ?? spoolNotifier(home),
    runtime: () => {
      // Loaded here: commands that never reach the engine (plan list…) start without it.
      runtime ??= Promise.all([store.read(), import('../../docker/runtime.js')]).then(([state, { DockerRuntime }]) =>
        DockerRuntime.open(effectiveConfig(state.config)['docker.host'], engine),
      );
      return runtime;
    },
  };
}
