import { BerthError } from '../errors.js';
import { STATE_VERSION } from './schema.js';

type Raw = Record<string, unknown>;

/**
 * Steps that turn a state file of version N into N+1, keyed by N. A new field or
 * shape adds a step here and bumps STATE_VERSION; old files upgrade on their next write.
 */
const STEPS: Record<number, (data: Raw) => Raw> = {
  // 1 → 2: VMs arrive; plans learn `sudo`; each berth home gets an instance id for its Docker labels.
  1: (data) => ({
    ...data,
    instanceId: newInstanceId(),
    plans: (data.plans as Raw[]).map((plan) => ({ sudo: false, ...plan })),
    vms: [],
  }),
  // 2 → 3: maintenance becomes a record of its own (from config `maintenance`), with schedules;
  // plans learn a maximum lifetime.
  2: (data) => {
    const { maintenance, ...config } = (data.config ?? {}) as Raw;
    return {
      ...data,
      config,
      plans: (data.plans as Raw[]).map((plan) => ({ maxLifetimeSeconds: 0, ...plan })),
      maintenance: { ...MAINTENANCE_OFF, on: maintenance === true, source: maintenance === true ? 'operator' : null },
      schedules: [],
    };
  },
  // 3 → 4: a bounded log of VM events (start, stop, die, OOM, policy stops…), for the TUI.
  3: (data) => ({ ...data, events: [] }),
  // 4 → 5: users, VMs and homes get ids of their own. Each VM's home volume (named after the login,
  // as berth named them then) becomes a home record owned by that VM's user: a user who gets a freed
  // login later never sees it. Quotas apply to homes made from now on.
  4: (data) => {
    const users: Raw[] = (data.users as Raw[]).map((user) => ({ id: newId(), ...user }));
    const idOf = new Map(users.map((u) => [u.login as string, u.id as string]));
    const homes: Raw[] = [];
    const vms = (data.vms as Raw[]).map((vm) => {
      const home = {
        id: newId(),
        owner: idOf.get(vm.user as string) ?? null,
        login: vm.user,
        vm: vm.name,
        volume: `berth-${vm.user}-${vm.name}-home`,
        diskBytes: null,
        createdAt: vm.createdAt,
      };
      homes.push(home);
      return { id: newId(), home: home.id, ...vm };
    });
    return { ...data, users, vms, homes };
  },
};

export const MAINTENANCE_OFF = { on: false, reason: '', since: null, until: null, source: null, window: null, stoppedVms: [] as string[] };

export function newInstanceId(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(6))).toString('hex');
}

/** A new id for a user, VM or home (12 random hex digits). */
export const newId = newInstanceId;

export function migrate(raw: unknown, file: string): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  let data = raw as Raw;
  const version = data.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) return raw;
  if (version > STATE_VERSION) {
    throw new BerthError(
      'STATE_TOO_NEW',
      `${file} was written by a newer berth (state version ${version}; this berth knows ${STATE_VERSION}).`,
      'Upgrade berth on this host; the file has not been changed.',
    );
  }
  for (let v = version; v < STATE_VERSION; v++) {
    const step = STEPS[v];
    if (!step || !Array.isArray(data.plans)) return raw;
    data = { ...step(data), version: v + 1 };
  }
  return data;
}
