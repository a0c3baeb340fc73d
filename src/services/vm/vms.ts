import { vmContainerSpec } from '../../docker/hardening.js';
import { LABEL, vmLabels } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { type Actor, OPERATOR } from '../../domain/actor.js';
import { checkVmName, DEFAULT_VM_NAME, findPlan, findUser, findVmFor, vmRef } from '../../domain/lookups.js';
import { checkAccess, checkMaintenance, checkMayOwnVms, checkQuotas, resourcesFor } from '../../domain/policies.js';
import { BerthError, invalidInput } from '../../errors.js';
import { newId } from '../../state/migrations.js';
import type { Home, State, StopReason, User, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { checkImageRef } from '../../values/image-ref.js';
import { checkLogin } from '../../values/names.js';
import { formatSize } from '../../values/sizes.js';
import type { Berth } from '../core/context.js';
import type { Admission, Deployed, PreparedDisk } from '../core/vm-backend.js';
import { containerMissing } from '../engine/engines.js';
import { discardPreparedDisk, prepareHomeDisk, provisionHome, releaseHome } from '../engine/home-storage.js';
import { claimHome } from './homes.js';
import { checkTemplateName, templateTag } from './images.js';
import { actorReason, logVmEvent, stopKind } from './vm-event-log.js';

export interface CreateVmInput {
  user: string;
  name?: string;
  plan?: string;
  template?: string;
  image?: string;
}

const now = () => new Date().toISOString();

function sameVm(a: Pick<Vm, 'user' | 'name'>) {
  return (b: Vm) => b.user === a.user && b.name === a.name;
}

/** The VM record as it is now (re-read inside a transaction). */
function current(state: State, vm: Pick<Vm, 'user' | 'name'>): Vm {
  const found = state.vms.find(sameVm(vm));
  if (!found) throw new BerthError('VM_GONE', `VM ${vmRef(vm)} was destroyed meanwhile.`, 'Nothing more to do.');
  return found;
}

async function resolveImage(runtime: DockerRuntime, image: string, template?: string): Promise<void> {
  const found = await runtime.image(image);
  if (!found) {
    throw new BerthError(
      'IMAGE_NOT_FOUND',
      `The image ${image} is not on the Docker engine.`,
      `Build it first: berth image build${template && template !== 'default' ? ` --template ${template}` : ''}`,
    );
  }
  if (!found.labels[LABEL.template]) {
    throw new BerthError(
      'NOT_A_BERTH_IMAGE',
      `The image ${image} was not built from a berth template (it has no ${LABEL.template} label).`,
      'Build VM images with berth image build, or FROM a berth image.',
    );
  }
}

/** The `docker create` request of a VM, made from its record: hardening always, resources from `resources`. */
function containerSpec(network: string, instanceId: string, vm: Vm, home: Home, userId: string) {
  return vmContainerSpec({
    user: vm.user,
    vm: vm.name,
    id: vm.id,
    volume: home.volume,
    image: vm.image,
    network,
    resources: vm.resources,
    labels: vmLabels(instanceId, vm, userId),
  });
}

/**
 * Creates and starts a VM. Quotas, capacity and maintenance are checked and the slot
 * reserved in one state transaction, so two racing creates cannot both pass.
 */
export async function createVm(ctx: Berth, input: CreateVmInput, actor: Actor = OPERATOR): Promise<Vm> {
  const prepared: { disk?: PreparedDisk } = {};
  try {
    return await createVmWith(ctx, input, actor, prepared);
  } finally {
    await discardPreparedDisk(prepared.disk);
  }
}

async function createVmWith(ctx: Berth, input: CreateVmInput, actor: Actor, prepared: { disk?: PreparedDisk }): Promise<Vm> {
  const login = checkLogin(input.user);
  const name = checkVmName(input.name ?? DEFAULT_VM_NAME);
  if (input.template && input.image) {
    throw invalidInput(
      'USAGE',
      'Give --template or --image, not both.',
      'A template names a berth image; --image names any berth-built image.',
    );
  }
  checkAccess(actor, login);
  const state = await ctx.store.read();
  // A new home's quota filesystem is made meanwhile (mkfs takes about as long as the checks below).
  prepared.disk = prepareHomeDisk(ctx, state, login, name, input.plan);
  const runtime = await ctx.runtime();
  const config = effectiveConfig(state.config);
  const template = input.template === undefined ? undefined : checkTemplateName(input.template);
  const image = input.image ? checkImageRef(input.image) : template ? templateTag(template) : config.image;
  const backend = await ctx.backend();
  const [admission] = await Promise.all([backend.admission(), resolveImage(runtime, image, template)]);

  const vm = await ctx.store.transact((state) => {
    const cfg = effectiveConfig(state.config);
    const user = findUser(state, login);
    checkMayOwnVms(user);
    checkMaintenance(state, actor, 'created');
    if (input.plan !== undefined && actor.role !== 'admin' && input.plan !== user.plan) {
      throw new BerthError('PLAN_NOT_YOURS', 'You can only create VMs on your own plan.', `Your plan is ${user.plan}.`);
    }
    const plan = findPlan(state, input.plan ?? user.plan);
    if (state.vms.some(sameVm({ user: login, name }))) {
      throw new BerthError(
        'VM_EXISTS',
        `VM ${login}/${name} already exists.`,
        `Start it (berth vm start ${login}/${name}) or pick another --name.`,
      );
    }
    checkQuotas(state, user, plan, cfg);
    const planned = resourcesFor(plan, cfg);
    admission.checkNew(state, planned, cfg.overcommit);
    const { home, fresh } = claimHome(state, user, name, planned.diskBytes ?? 0);
    const record: Vm = {
      id: newId(),
      user: login,
      name,
      plan: plan.name,
      image,
      home: home.id,
      phase: 'creating',
      containerId: null,
      desired: 'running',
      resources: admission.resources(planned, home),
      createdAt: now(),
    };
    state.vms.push(record);
    return { record, home: { ...home }, fresh, userId: user.id, network: cfg['docker.network'], instanceId: state.instanceId };
  });

  let deployed: Deployed | undefined;
  try {
    const spec = containerSpec(vm.network, vm.instanceId, vm.record, vm.home, vm.userId);
    deployed = await backend.create(vm.record, spec, {
      home: vm.home,
      fresh: vm.fresh,
      instanceId: vm.instanceId,
      userId: vm.userId,
      prepared: prepared.disk,
    });
    const made = deployed;
    return await ctx.store.transact((state) => {
      logVmEvent(state, vm.record, 'create', actorReason(actor));
      const home = state.homes.find((h) => h.id === vm.home.id);
      if (home && made.node) home.node = made.node;
      return Object.assign(current(state, vm.record), {
        containerId: made.containerId,
        phase: 'ready' as const,
        lastStartedAt: now(),
        ...(made.node ? { node: made.node } : {}),
      });
    });
  } catch (err) {
    // A failed create: the backend removed what it made. Made, but not recorded (the VM destroyed
    // meanwhile, the state not writable): its workload and a fresh home go here. The record goes too.
    if (deployed) {
      const placed = { ...vm.record, containerId: deployed.containerId, node: deployed.node };
      await backend.remove(placed).catch(() => undefined);
      await backend.releaseHome(placed, vm.home, { delete: vm.fresh }).catch(() => undefined);
    }
    await ctx.store
      .transact((state) => {
        state.vms = state.vms.filter((v) => !sameVm(vm.record)(v));
        if (vm.fresh) state.homes = state.homes.filter((h) => h.id !== vm.home.id);
      })
      .catch(() => undefined);
    throw err;
  }
}

/** The home record a VM mounts. */
function homeOf(state: State, vm: Vm): Home {
  const home = state.homes.find((h) => h.id === vm.home);
  if (!home) throw new Error(`berth bug: VM ${vmRef(vm)} has no home record`);
  return home;
}

function ownerOf(state: State, vm: Vm): User {
  return findUser(state, vm.user);
}

async function withContainer(ctx: Berth, ref: string, actor: Actor): Promise<Vm> {
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  if (!vm.containerId || vm.phase !== 'ready') throw notReady(vm);
  return vm;
}

export function notReady(vm: Pick<Vm, 'user' | 'name'>): BerthError {
  return new BerthError(
    'VM_NOT_READY',
    `VM ${vmRef(vm)} has no container yet.`,
    'Wait for its creation to finish, or run berth vm reconcile --fix.',
  );
}

export { containerMissing };

/** What recording an intent changes on a VM record, and what a failure puts back. */
type RunIntent = Partial<Pick<Vm, 'desired' | 'stopReason'>>;

/**
 * Starting, stopping and restarting a VM, in the one order that keeps the record true: the intent
 * is recorded first, in the transaction that checks it may happen (so the engine's `die` event reads
 * as berth's doing); then the engine acts; a failure puts back what the intent changed; success
 * records the outcome (and the event log line).
 */
async function changeRunState(
  ctx: Berth,
  vm: Vm,
  steps: { intend(state: State, record: Vm): RunIntent; act(): Promise<void>; done(state: State, record: Vm): void },
): Promise<Vm> {
  const before = await ctx.store.transact((state) => {
    const record = current(state, vm);
    const intent = steps.intend(state, record);
    const previous: RunIntent = {};
    for (const key of Object.keys(intent) as Array<keyof RunIntent>) Object.assign(previous, { [key]: record[key] });
    Object.assign(record, intent);
    return previous;
  });
  try {
    await steps.act();
  } catch (err) {
    await ctx.store.transact((state) => Object.assign(current(state, vm), before));
    throw err;
  }
  return ctx.store.transact((state) => {
    const record = current(state, vm);
    steps.done(state, record);
    return record;
  });
}

/** What starting (or restarting) a VM checks: its owner may have VMs, no maintenance, and (`capacity`) room for it. */
function checkMayStart(state: State, record: Vm, actor: Actor, admission: Admission, capacity: boolean): void {
  checkMayOwnVms(findUser(state, record.user));
  checkMaintenance(state, actor, 'started');
  if (capacity) admission.checkStart(state, record, effectiveConfig(state.config).overcommit);
}

/** The local `docker create` request of a made VM, from its record (what its Swarm container must match). */
export async function specOf(ctx: Berth, vm: Vm) {
  const state = await ctx.store.read();
  return containerSpec(effectiveConfig(state.config)['docker.network'], state.instanceId, vm, homeOf(state, vm), ownerOf(state, vm).id);
}

/** Starts (or, with `restart`, restarts) a made VM through the backend; its container may be a new one. */
async function bringUp(ctx: Berth, ref: string, actor: Actor, restart: boolean): Promise<Vm> {
  const vm = await withContainer(ctx, ref, actor);
  const backend = await ctx.backend();
  const admission = await backend.admission();
  let containerId = vm.containerId;
  return changeRunState(ctx, vm, {
    intend: (state, record) => {
      checkMayStart(state, record, actor, admission, !restart || record.desired !== 'running');
      // A restart stops the VM on purpose for a moment: its `die` event is berth's doing.
      return restart ? { desired: 'stopped', stopReason: actor.role === 'admin' ? 'operator' : 'user' } : { desired: 'running' };
    },
    act: async () => {
      const spec = await specOf(ctx, vm);
      containerId = restart ? await backend.restart(vm, spec) : await backend.start(vm, spec);
    },
    done: (state, record) => {
      delete record.stopReason;
      logVmEvent(state, vm, restart ? 'restart' : 'start', actorReason(actor));
      Object.assign(record, { containerId, desired: 'running' as const, lastStartedAt: now(), lastActiveAt: now() });
    },
  });
}

export async function startVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  return bringUp(ctx, ref, actor, false);
}

export async function restartVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  return bringUp(ctx, ref, actor, true);
}

export async function stopVm(ctx: Berth, ref: string, actor: Actor = OPERATOR, reason?: StopReason): Promise<Vm> {
  const vm = await withContainer(ctx, ref, actor);
  const backend = await ctx.backend();
  const stopReason: StopReason = reason ?? (actor.role === 'admin' ? 'operator' : 'user');
  return changeRunState(ctx, vm, {
    intend: () => ({ desired: 'stopped', stopReason }),
    act: () => backend.stop(vm),
    done: (state, record) => {
      // A policy's stop says which policy; any other says who stopped the VM.
      const byPolicy = reason === 'idle' || reason === 'lifetime' || reason === 'maintenance';
      logVmEvent(state, vm, stopKind(stopReason), byPolicy ? reason : actorReason(actor));
      record.lastStoppedAt = now();
    },
  });
}

export async function destroyVm(
  ctx: Berth,
  ref: string,
  options: { keepData?: boolean; onlyIfStoppedSince?: string } = {},
  actor: Actor = OPERATOR,
): Promise<Vm> {
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  await ctx.store.transact((state) => {
    const record = current(state, vm);
    // A policy destroying a long-stopped VM must not take one somebody has just started.
    if (options.onlyIfStoppedSince !== undefined && (record.desired !== 'stopped' || record.lastStoppedAt !== options.onlyIfStoppedSince)) {
      throw new BerthError('VM_CHANGED', `VM ${vmRef(vm)} changed meanwhile; it was not destroyed.`, 'Nothing to do.');
    }
    record.desired = 'stopped';
  });
  const backend = await ctx.backend();
  await backend.remove(vm);
  const home = homeOf(await ctx.store.read(), vm);
  await backend.releaseHome(vm, home, { delete: !options.keepData });
  return ctx.store.transact((state) => {
    const record = current(state, vm);
    state.vms = state.vms.filter((v) => v !== record);
    if (!options.keepData) state.homes = state.homes.filter((h) => h.id !== home.id);
    const who = options.onlyIfStoppedSince !== undefined ? 'destroy-after policy' : actorReason(actor);
    logVmEvent(state, vm, 'destroy', `${who}; home ${options.keepData ? 'kept' : 'removed'}`);
    return record;
  });
}

/** Recreates a VM's container on its image as it is now and its plan's resources, keeping the home. */
export async function rebuildVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  const state = await ctx.store.read();
  const vm = findVmFor(state, ref, actor);
  await resolveImage(await ctx.runtime(), vm.image);
  const backend = await ctx.backend();
  const planned = resourcesFor(findPlan(state, vm.plan), effectiveConfig(state.config));
  // Refused before anything changes: a plan this backend cannot give (a quota on Swarm, too many CPUs…).
  (await backend.admission()).checkRebuild(planned);
  const quota = planned.diskBytes ?? 0;
  const runtime = await backend.engineOf(vm);
  const replaced = quota > 0 && !homeOf(state, vm).diskBytes ? await moveHomeToQuota(ctx, runtime, vm, quota) : null;
  const rebuilt = await recreateContainer(ctx, vm);
  // The old container is gone now: its volume can go too.
  if (replaced) await runtime.removeVolume(replaced).catch(() => undefined);
  return rebuilt;
}

/**
 * A home made before quotas (a plain volume) gets its plan's quota at a rebuild: its files are
 * copied into a new home filesystem of that size, which takes its place; the old volume is removed
 * only once the copy succeeded. A home holding more than the quota stays as it is, with an error.
 */
async function moveHomeToQuota(ctx: Berth, runtime: DockerRuntime, vm: Vm, quota: number): Promise<string> {
  const state = await ctx.store.read();
  const old = homeOf(state, vm);
  const owner = ownerOf(state, vm);
  const id = newId();
  // Its backups go on being the home's: the snapshots of the home it replaces are listed with its own.
  const fresh: Home = {
    ...old,
    id,
    volume: `berth-home-${id}`,
    diskBytes: quota,
    createdAt: now(),
    lineage: [old.id, ...(old.lineage ?? [])].slice(0, 50),
  };
  if (vm.containerId) await runtime.stopContainer(vm.containerId);
  await provisionHome(ctx, runtime, state.instanceId, fresh, { ...vm, home: id }, owner.id);
  const copy = await runtime
    .runOnce(
      {
        Image: vm.image,
        Entrypoint: ['cp'],
        Cmd: ['-a', '/from/.', '/to/'],
        User: '0',
        Labels: { [LABEL.managed]: 'true', [LABEL.instance]: state.instanceId },
        HostConfig: {
          NetworkMode: 'none',
          CapDrop: ['ALL'],
          CapAdd: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'],
          SecurityOpt: ['no-new-privileges:true'],
          Mounts: [
            { Type: 'volume', Source: old.volume, Target: '/from', ReadOnly: true },
            { Type: 'volume', Source: fresh.volume, Target: '/to' },
          ],
        },
      },
      30 * 60_000,
    )
    .catch(async (err: unknown) => {
      await releaseHome(ctx, runtime, fresh, { delete: true }).catch(() => undefined);
      throw err;
    });
  if (copy.exitCode !== 0) {
    await releaseHome(ctx, runtime, fresh, { delete: true }).catch(() => undefined);
    throw new BerthError(
      'HOME_TOO_BIG',
      `The home of ${vmRef(vm)} could not be moved into its ${formatSize(quota)} quota: ${copy.output.trim().split('\n').pop() ?? 'cp failed'}.`,
      'Free space in it first, or give the plan a larger --disk; the VM and its home are unchanged.',
    );
  }
  await ctx.store.transact((s) => {
    s.homes.push(fresh);
    current(s, vm).home = id;
    s.homes = s.homes.filter((h) => h.id !== old.id);
  });
  vm.home = id;
  return old.volume;
}

/** Makes a VM's workload again from its record (home kept) and starts it if it should run. */
export async function recreateContainer(ctx: Berth, vm: Vm): Promise<Vm> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const home = homeOf(state, vm);
  const owner = ownerOf(state, vm);
  const backend = await ctx.backend();
  const admission = await backend.admission();
  // The plan as it is now; the home keeps its own quota (a home is never resized here).
  const resources = admission.resources(resourcesFor(findPlan(state, vm.plan), cfg), home);
  admission.checkRebuild(resources);
  // Forget the old container first: its `die` event must not read as the VM dying.
  await ctx.store.transact((st) => Object.assign(current(st, vm), { containerId: null }));
  const record = { ...vm, resources };
  const spec = containerSpec(cfg['docker.network'], state.instanceId, record, home, owner.id);
  const deployed = await backend.redeploy(record, spec, { home, fresh: false, instanceId: state.instanceId, userId: owner.id });
  return ctx.store.transact((s) => {
    const h = s.homes.find((x) => x.id === home.id);
    if (h && deployed.node) h.node = deployed.node;
    return Object.assign(current(s, vm), {
      containerId: deployed.containerId,
      phase: 'ready' as const,
      resources,
      ...(deployed.node ? { node: deployed.node } : {}),
      ...(vm.desired === 'running' ? { lastStartedAt: now() } : {}),
    });
  });
}
