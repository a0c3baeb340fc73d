import type { DockerRuntime } from '../../docker/runtime.js';
import type { StateStore } from '../../state/store.js';
import type { Notifier } from './notify.js';
import type { VmBackend } from './vm-backend.js';

/**
 * What every service works with: the state, the Docker engine berth talks to (connected on first
 * use), the backend that runs VMs on it (chosen once, from the config), and where notices go.
 * Made by `openBerth` (src/services/engine/open.ts), the one place that picks the backend.
 */
export interface Berth {
  store: StateStore;
  /** The engine at `docker.host`: this host's, or the Swarm manager's. */
  runtime(): Promise<DockerRuntime>;
  /** The port every VM operation goes through. */
  backend(): Promise<VmBackend>;
  /** Where notices to users go (the daemon plugs in its channels). */
  notifier: Notifier;
}
