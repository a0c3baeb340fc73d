import { DockerRuntime } from '../docker/runtime.js';
import { effectiveConfig } from '../domain/config-keys.js';
import { berthHome } from '../home.js';
import { StateStore } from '../state/store.js';
import { type Notifier, silentNotifier } from './notify.js';

/** What every service works with: the state, and the Docker engine (connected on first use). */
export interface Berth {
  store: StateStore;
  runtime(): Promise<DockerRuntime>;
  /** Where notices to users go (the daemon plugs in its channels). */
  notifier: Notifier;
}

export function openBerth(home: string = berthHome(), notifier: Notifier = silentNotifier): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  return {
    store,
    notifier,
    runtime: () => {
      runtime ??= store.read().then((state) => DockerRuntime.open(effectiveConfig(state.config)['docker.host']));
      return runtime;
    },
  };
}
