import { DockerRuntime } from '../../docker/runtime.js';
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

/** Without a notifier (the CLI), notices wait in the outbox for the daemon to deliver. */
export function openBerth(home: string = berthHome(), notifier?: Notifier): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  return {
    store,
    notifier: notifier ?? spoolNotifier(home),
    runtime: () => {
      runtime ??= store.read().then((state) => DockerRuntime.open(effectiveConfig(state.config)['docker.host']));
      return runtime;
    },
  };
}
