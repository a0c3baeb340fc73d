import type { DockerRuntime } from '../../docker/runtime.js';
import { BerthError } from '../../errors.js';
import { berthHome } from '../../home.js';
import { StateStore } from '../../state/store.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { spoolNotifier } from '../core/notice-spool.js';
import type { Notifier } from '../core/notify.js';
import type { VmBackend } from '../core/vm-backend.js';
import { isDeadline, withDeadline } from './deadline.js';

/** How long berth's engine has to answer the first call of a process. */
export const ENGINE_ANSWER_MS = 10_000;

/**
 * The engine, once it has answered: one that accepts connections and never answers (a frozen
 * dockerd) fails here, within a deadline that also ends the request, instead of holding a command
 * on its first real call. One that is not there fails at once, saying where berth looked.
 */
async function answering(opened: Promise<DockerRuntime>): Promise<DockerRuntime> {
  const runtime = await opened;
  await withDeadline(ENGINE_ANSWER_MS, 'answer', () => runtime.version()).catch((err: unknown) => {
    if (!isDeadline(err)) throw err;
    throw new BerthError(
      'ENGINE_TIMEOUT',
      `The Docker engine at ${runtime.address} accepts connections but did not answer within ${ENGINE_ANSWER_MS / 1000} s (frozen or overloaded); nothing was changed.`,
      'Check the engine (systemctl status docker, its log), then try again; berth doctor says what berth sees.',
    );
  });
  return runtime;
}

/**
 * A context for one berth home. The engine is connected on first use, once (from `docker.host` as
 * the state says then). The backend follows `engine` as the state says at each call, one made per
 * mode, so a running daemon follows `berth config set engine`. Without a notifier (the CLI),
 * notices wait in the outbox for the daemon.
 * `directExec`: see DockerRuntime.open (a one-shot exec that should not load dockerode).
 */
export function openBerth(home: string = berthHome(), notifier?: Notifier, engine: { directExec?: boolean } = {}): Berth {
  const store = new StateStore(home);
  let runtime: Promise<DockerRuntime> | undefined;
  // One backend per engine mode, made on first use; which one answers is read from the state on
  // each call (a daemon keeps running across `berth config set engine`).
  const backends = new Map<'local' | 'swarm', Promise<VmBackend>>();
  const ctx: Berth = {
    store,
    notifier: notifier ?? spoolNotifier(home),
    runtime: () => {
      if (!runtime) {
        // The runtime module loads here: commands that never reach the engine (plan list…) start without it.
        const opening = Promise.all([store.read(), import('../../docker/runtime.js')]).then(([state, { DockerRuntime }]) =>
          answering(DockerRuntime.open(effectiveConfig(state.config)['docker.host'], engine)),
        );
        // An engine that did not answer is asked again next time (a daemon outlives a stalled engine).
        opening.catch(() => {
          if (runtime === opening) runtime = undefined;
        });
        runtime = opening;
      }
      return runtime;
    },
    backend: async () => {
      const mode = effectiveConfig((await store.snapshot()).config).engine;
      let backend = backends.get(mode);
      if (!backend) {
        // The backends (and the engine, Swarm and host modules under them) load here: commands that
        // never reach the engine (plan list…) start without them.
        backend =
          mode === 'swarm'
            ? import('./swarm-backend.js').then((m) => m.swarmBackend(ctx))
            : import('./local-backend.js').then((m) => m.localBackend(ctx));
        backends.set(mode, backend);
      }
      return backend;
    },
  };
  return ctx;
}
