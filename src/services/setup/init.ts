import { chmod } from 'node:fs/promises';
import { MAINTENANCE_OFF, newInstanceId } from '../../state/migrations.js';
import { STATE_VERSION, type State } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { DEFAULT_PLANS } from '../people/plans.js';

export interface InitResult {
  home: string;
  stateFile: string;
  created: boolean;
  plans: string[];
}

/** Creates the berth home and a state file with the default plans; a second run changes nothing. */
export async function initHome(store: StateStore): Promise<InitResult> {
  let created = false;
  const state = await store.transact((s) => s, {
    create: (): State => {
      created = true;
      return {
        version: STATE_VERSION,
        instanceId: newInstanceId(),
        plans: DEFAULT_PLANS.map((p) => ({ ...p })),
        users: [],
        vms: [],
        homes: [],
        config: {},
        maintenance: { ...MAINTENANCE_OFF },
        schedules: [],
        events: [],
      };
    },
  });
  await chmod(store.home, 0o700);
  return { home: store.home, stateFile: store.path, created, plans: state.plans.map((p) => p.name) };
}
