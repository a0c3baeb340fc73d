import { findPlan, usersOnPlan, vmRef } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import type { Plan, State } from '../../state/schema.js';
import type { StateStore } from '../../state/store.js';
import { parseAgentPermission } from '../../values/agents.js';
import { parseBackupSchedule, parseKeep } from '../../values/backup.js';
import { parseDuration } from '../../values/durations.js';
import { checkPlanName } from '../../values/names.js';
import { parseCpus, parseGpus, parseWhole } from '../../values/numbers.js';
import { parseRecordMode } from '../../values/recording.js';
import { parseDiskSize, parseSize } from '../../values/sizes.js';

/** A plan as a person writes it; every field is text until parsed here. */
export interface PlanSpec {
  cpu?: string | number;
  ram?: string;
  gpu?: string | number;
  pids?: string | number;
  maxVms?: string | number;
  sudo?: boolean;
  maxLifetime?: string;
  /** Home quota, e.g. 20g; 0 = none. */
  disk?: string;
  /** Limit on what a VM writes outside its home; 0 = none. */
  rootfs?: string;
  /** What a coding agent may do: off, read-only, edit, full. */
  agent?: string;
  description?: string;
  /** Most apps per user (0 = none). */
  apps?: string | number;
  /** CPUs of each app, e.g. 0.5. */
  appCpu?: string | number;
  /** Memory of each app, e.g. 256m. */
  appRam?: string;
  /** Most processes in each app. */
  appPids?: string | number;
  /** An app running longer than this is stopped, e.g. 24h (0 = no limit). */
  appLifetime?: string;
  /** Anyone (not only the owner) may open the plan's apps' web ports. */
  appPublic?: boolean;
  /** Sessions recorded: off, output, output+input. */
  record?: string;
  backup?: string;
  keep?: string;
  backupSelf?: boolean;
}

export const DEFAULT_PIDS = 512;

export const DEFAULT_PLANS: readonly Plan[] = [
  {
    name: 'basic',
    cpu: 1,
    ramBytes: 1024 ** 3,
    gpu: 0,
    pids: DEFAULT_PIDS,
    maxVms: 1,
    sudo: false,
    maxLifetimeSeconds: 0,
    description: 'Small box for scripts and editing',
  },
  {
    name: 'standard',
    cpu: 2,
    ramBytes: 4 * 1024 ** 3,
    gpu: 0,
    pids: DEFAULT_PIDS,
    maxVms: 1,
    sudo: false,
    maxLifetimeSeconds: 0,
    description: 'Everyday development',
  },
  {
    name: 'pro',
    cpu: 4,
    ramBytes: 8 * 1024 ** 3,
    gpu: 0,
    pids: DEFAULT_PIDS,
    maxVms: 1,
    sudo: false,
    maxLifetimeSeconds: 0,
    description: 'Builds and heavier workloads',
  },
  {
    name: 'enterprise',
    cpu: 8,
    ramBytes: 16 * 1024 ** 3,
    gpu: 1,
    pids: DEFAULT_PIDS,
    maxVms: 1,
    sudo: false,
    maxLifetimeSeconds: 0,
    description: 'Large workloads with one GPU',
  },
];

function parseSpec(spec: PlanSpec): Partial<Plan> {
  const out: Partial<Plan> = {};
  if (spec.cpu !== undefined) out.cpu = parseCpus(spec.cpu);
  if (spec.ram !== undefined) out.ramBytes = parseSize(spec.ram, 'RAM');
  if (spec.gpu !== undefined) out.gpu = parseGpus(spec.gpu);
  if (spec.pids !== undefined) out.pids = parseWhole(spec.pids, 'process limit', 16, 1_000_000);
  if (spec.maxVms !== undefined) out.maxVms = parseWhole(spec.maxVms, 'VM count per user', 0, 1000);
  if (spec.sudo !== undefined) out.sudo = spec.sudo;
  if (spec.maxLifetime !== undefined) out.maxLifetimeSeconds = parseDuration(spec.maxLifetime, 'maximum lifetime');
  if (spec.disk !== undefined) out.diskBytes = parseDiskSize(spec.disk, 'home quota');
  if (spec.rootfs !== undefined) out.rootfsBytes = parseDiskSize(spec.rootfs, 'rootfs limit');
  if (spec.agent !== undefined) out.agent = parseAgentPermission(spec.agent);
  if (spec.description !== undefined) out.description = checkDescription(spec.description);
  if (spec.apps !== undefined) out.maxApps = parseWhole(spec.apps, 'app count per user', 0, 1000);
  if (spec.appCpu !== undefined) out.appCpu = parseCpus(spec.appCpu, 'app CPU count');
  if (spec.appRam !== undefined) out.appRamBytes = parseSize(spec.appRam, 'app RAM');
  if (spec.appPids !== undefined) out.appPids = parseWhole(spec.appPids, 'app process limit', 16, 100_000);
  if (spec.appLifetime !== undefined) out.appLifetimeSeconds = parseDuration(spec.appLifetime, 'app lifetime');
  if (spec.appPublic !== undefined) out.appPublic = spec.appPublic;
  if (spec.backup !== undefined) out.backup = parseBackupSchedule(spec.backup);
  if (spec.keep !== undefined) out.backupKeep = parseKeep(spec.keep);
  if (spec.backupSelf !== undefined) out.backupSelf = spec.backupSelf;
  // `default`: the plan follows config sessions.record again.
  if (spec.record !== undefined)
    out.record = spec.record.trim().toLowerCase() === 'default' ? undefined : parseRecordMode(spec.record, '--record');
  return out;
}

function checkDescription(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (text.length > 200 || /[\u0000-\u001f\u007f]/.test(text)) {
    throw invalidInput(
      'INVALID_DESCRIPTION',
      'The description is too long or holds control characters.',
      'Use one line of at most 200 characters.',
    );
  }
  return text;
}

export async function listPlans(store: StateStore): Promise<{ plans: Plan[]; state: State }> {
  const state = await store.read();
  return { plans: state.plans, state };
}

export async function addPlan(store: StateStore, name: string, spec: PlanSpec): Promise<Plan> {
  checkPlanName(name);
  const fields = parseSpec(spec);
  return store.transact((state) => {
    if (state.plans.some((p) => p.name === name)) {
      throw new BerthError('PLAN_EXISTS', `Plan "${name}" already exists.`, `Change it with \`berth plan set ${name} …\`.`);
    }
    const plan: Plan = { name, gpu: 0, pids: DEFAULT_PIDS, maxVms: 1, sudo: false, maxLifetimeSeconds: 0, description: '', ...fields };
    state.plans.push(plan);
    return plan;
  });
}

export async function setPlan(store: StateStore, name: string, spec: PlanSpec): Promise<Plan> {
  checkPlanName(name);
  const fields = parseSpec(spec);
  if (Object.keys(fields).length === 0) {
    throw invalidInput(
      'NOTHING_TO_CHANGE',
      `No change given for plan "${name}".`,
      'Pass at least one of --cpu, --ram, --gpu, --pids, --max-vms, --sudo, --max-lifetime, --disk, --rootfs, --agent, --description, --apps, --app-cpu, --app-ram, --app-pids, --app-lifetime, --app-public, --record, --backup, --keep, --backup-self.',
    );
  }
  return store.transact((state) => Object.assign(findPlan(state, name), fields));
}

export async function removePlan(store: StateStore, name: string): Promise<Plan> {
  checkPlanName(name);
  return store.transact((state) => {
    const plan = findPlan(state, name);
    const users = usersOnPlan(state, name);
    const vms = state.vms.filter((vm) => vm.plan === name).map(vmRef);
    if (users.length === 0 && vms.length > 0) {
      throw new BerthError(
        'PLAN_IN_USE',
        `Plan "${name}" is in use by ${vms.length} VM(s): ${vms.join(', ')}.`,
        'Destroy or rebuild them on another plan first.',
      );
    }
    if (users.length > 0) {
      throw new BerthError(
        'PLAN_IN_USE',
        `Plan "${name}" is in use by ${users.length} user(s): ${users.join(', ')}.`,
        `Move them first: berth user set ${users[0]} --plan OTHER`,
      );
    }
    state.plans = state.plans.filter((p) => p !== plan);
    return plan;
  });
}
