import type { ComponentName, ComponentStatus } from '../src/services/control/daemon-routes.js';

/** What `daemon status` shows of each part of the daemon. */
export class Components {
  private readonly all = new Map<ComponentName, ComponentStatus>();

  set(name: ComponentName, state: ComponentStatus['state'], detail = '', error?: unknown): void {
    const previous = this.all.get(name);
    this.all.set(name, {
      name,
      state,
      detail,
      lastError:
        error === undefined
          ? state === 'failed'
            ? (previous?.lastError ?? null)
            : (previous?.lastError ?? null)
          : String((error as Error)?.message ?? error),
      since: previous?.state === state ? previous.since : new Date().toISOString(),
    });
  }

  list(): ComponentStatus[] {
    const order: ComponentName[] = ['api', 'scheduler', 'events', 'nodes', 'telegram', 'discord', 'ssh', 'web', 'firewall'];
    return order.flatMap((n) => this.all.get(n) ?? []);
  }
}
