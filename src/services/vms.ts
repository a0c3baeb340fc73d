import { vmContainerSpec } from '../docker/hardening.js';
import { containerName, instanceFilter, LABEL, vmLabels, volumeName } from '../docker/labels.js';
import type { DockerRuntime } from '../docker/runtime.js';
import { type Actor, OPERATOR } from '../domain/actor.js';
import { effectiveConfig } from '../domain/config-keys.js';
import { checkImageRef } from '../domain/image-ref.js';
import { checkLogin } from '../domain/names.js';
import {
  checkAccess,
  checkCapacity,
  checkCpus,
  checkGpu,
  checkMaintenance,
  checkMayOwnVms,
  checkQuotas,
  resourcesFor,
} from '../domain/policies.js';
import { BerthError, invalidInput } from '../errors.js';
import type { State, StopReason, Vm } from '../state/schema.js';
import type { Berth } from './context.js';
import { ensureFirewall } from './firewall.js';
import { checkTemplateName, templateTag } from './images.js';
import { findPlan } from './plans.js';
import { findUser } from './users.js';
import { actorReason, logVmEvent, stopKind } from './vm-event-log.js';
import { checkVmName, DEFAULT_VM_NAME, findVmFor, vmRef } from './vm-refs.js';

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

/**
 * Creates and starts a VM. Quotas, capacity and maintenance are checked and the slot
 * reserved in one state transaction, so two racing creates cannot both pass.
 */
export async function createVm(ctx: Berth, input: CreateVmInput, actor: Actor = OPERATOR): Promise<Vm> {
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
  const runtime = await ctx.runtime();
  const config = effectiveConfig((await ctx.store.read()).config);
  const template = input.template === undefined ? undefined : checkTemplateName(input.template);
  const image = input.image ? checkImageRef(input.image) : template ? templateTag(template) : config.image;
  await resolveImage(runtime, image, template);
  const host = await runtime.hostInfo();

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
    const clash = state.vms.find((v) => containerName(v.user, v.name) === containerName(login, name));
    if (clash) {
      throw new BerthError('VM_NAME_CLASH', `${login}/${name} would share Docker names with ${vmRef(clash)}.`, 'Pick another --name.');
    }
    checkQuotas(state, user, plan, cfg);
    const resources = resourcesFor(plan, cfg);
    checkCpus(resources, host.cpus);
    checkGpu(resources, host.runtimes);
    checkCapacity(state, resources, host.memoryBytes, cfg.overcommit);
    const record: Vm = {
      user: login,
      name,
      plan: plan.name,
      image,
      phase: 'creating',
      containerId: null,
      desired: 'running',
      resources,
      createdAt: now(),
    };
    state.vms.push(record);
    return { record, network: cfg['docker.network'], instanceId: state.instanceId };
  });

  let createdVolume = false;
  let containerId: string | undefined;
  try {
    createdVolume = await ensureHomeVolume(runtime, vm.instanceId, vm.record);
    await runtime.ensureNetwork(vm.network, { [LABEL.managed]: 'true' });
    await ensureFirewall(ctx, runtime);
    containerId = await runtime.createContainer(
      vmContainerSpec({
        user: login,
        vm: name,
        image,
        network: vm.network,
        resources: vm.record.resources,
        labels: vmLabels(vm.instanceId, login, name, vm.record.plan),
      }),
    );
    await runtime.startContainer(containerId);
    const id = containerId;
    return await ctx.store.transact((state) => {
      logVmEvent(state, vm.record, 'create', actorReason(actor));
      return Object.assign(current(state, vm.record), { containerId: id, phase: 'ready' as const, lastStartedAt: now() });
    });
  } catch (err) {
    if (containerId) await runtime.removeContainer(containerId).catch(() => undefined);
    if (createdVolume) await runtime.removeVolume(volumeName(login, name)).catch(() => undefined);
    await ctx.store
      .transact((state) => {
        state.vms = state.vms.filter((v) => !sameVm(vm.record)(v));
      })
      .catch(() => undefined);
    throw err;
  }
}

/** The home volume: reused when kept from an earlier VM of the same user and name, else made. */
async function ensureHomeVolume(runtime: DockerRuntime, instanceId: string, vm: Vm): Promise<boolean> {
  const name = volumeName(vm.user, vm.name);
  const existing = await runtime.volume(name);
  if (existing) {
    if (
      existing.labels[LABEL.user] !== vm.user ||
      existing.labels[LABEL.vm] !== vm.name ||
      existing.labels[LABEL.instance] !== instanceId
    ) {
      throw new BerthError(
        'VOLUME_CONFLICT',
        `A Docker volume named ${name} exists and is not ${vmRef(vm)}'s home.`,
        `Inspect it (docker volume inspect ${name}) and remove or rename it.`,
      );
    }
    return false;
  }
  await runtime.createVolume(name, vmLabels(instanceId, vm.user, vm.name, vm.plan));
  return true;
}

async function withContainer(ctx: Berth, ref: string, actor: Actor): Promise<{ vm: Vm; runtime: DockerRuntime; id: string }> {
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  if (!vm.containerId || vm.phase !== 'ready') {
    throw new BerthError(
      'VM_NOT_READY',
      `VM ${vmRef(vm)} has no container yet.`,
      'Wait for its creation to finish, or run berth vm reconcile --fix.',
    );
  }
  return { vm, runtime: await ctx.runtime(), id: vm.containerId };
}

export async function startVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  const { vm, runtime, id } = await withContainer(ctx, ref, actor);
  const host = await runtime.hostInfo();
  const wasDesired = vm.desired;
  await ctx.store.transact((state) => {
    const record = current(state, vm);
    const cfg = effectiveConfig(state.config);
    checkMayOwnVms(findUser(state, record.user));
    checkMaintenance(state, actor, 'started');
    checkCapacity(state, record, host.memoryBytes, cfg.overcommit);
    record.desired = 'running';
  });
  try {
    await requireContainer(runtime, id, vm);
    await runtime.startContainer(id);
  } catch (err) {
    await ctx.store.transact((state) => {
      current(state, vm).desired = wasDesired;
    });
    throw err;
  }
  return ctx.store.transact((state) => {
    const record = current(state, vm);
    delete record.stopReason;
    logVmEvent(state, vm, 'start', actorReason(actor));
    return Object.assign(record, { lastStartedAt: now(), lastActiveAt: now() });
  });
}

export async function stopVm(ctx: Berth, ref: string, actor: Actor = OPERATOR, reason?: StopReason): Promise<Vm> {
  const { vm, runtime, id } = await withContainer(ctx, ref, actor);
  await requireContainer(runtime, id, vm);
  const stopReason: StopReason = reason ?? (actor.role === 'admin' ? 'operator' : 'user');
  // The intent is recorded first, so the engine's `die` event reads as berth's doing.
  const before = vm.desired;
  await ctx.store.transact((state) => Object.assign(current(state, vm), { desired: 'stopped' as const, stopReason }));
  try {
    await runtime.stopContainer(id);
  } catch (err) {
    await ctx.store.transact((state) => Object.assign(current(state, vm), { desired: before }));
    throw err;
  }
  return ctx.store.transact((state) => {
    // A policy's stop says which policy; any other says who stopped the VM.
    const byPolicy = reason === 'idle' || reason === 'lifetime' || reason === 'maintenance';
    logVmEvent(state, vm, stopKind(stopReason), byPolicy ? reason : actorReason(actor));
    return Object.assign(current(state, vm), { lastStoppedAt: now() });
  });
}

export async function restartVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  const { vm, runtime, id } = await withContainer(ctx, ref, actor);
  const host = await runtime.hostInfo();
  const before = { desired: vm.desired, stopReason: vm.stopReason };
  await ctx.store.transact((state) => {
    const record = current(state, vm);
    const cfg = effectiveConfig(state.config);
    checkMayOwnVms(findUser(state, record.user));
    checkMaintenance(state, actor, 'started');
    if (record.desired !== 'running') checkCapacity(state, record, host.memoryBytes, cfg.overcommit);
    // Stopped on purpose for the moment of the restart: its `die` event is berth's doing.
    Object.assign(record, { desired: 'stopped', stopReason: actor.role === 'admin' ? 'operator' : 'user' });
  });
  try {
    await requireContainer(runtime, id, vm);
    await runtime.restartContainer(id);
  } catch (err) {
    await ctx.store.transact((state) => Object.assign(current(state, vm), before));
    throw err;
  }
  return ctx.store.transact((state) => {
    const record = current(state, vm);
    delete record.stopReason;
    logVmEvent(state, vm, 'restart', actorReason(actor));
    return Object.assign(record, { desired: 'running' as const, lastStartedAt: now(), lastActiveAt: now() });
  });
}

async function requireContainer(runtime: DockerRuntime, id: string, vm: Vm): Promise<void> {
  if (!(await runtime.inspectContainer(id))) {
    throw new BerthError(
      'VM_CONTAINER_MISSING',
      `The container of VM ${vmRef(vm)} is gone from the engine.`,
      'Recreate it (the home is kept): berth vm reconcile --fix',
    );
  }
}

export async function destroyVm(
  ctx: Berth,
  ref: string,
  options: { keepData?: boolean; onlyIfStoppedSince?: string } = {},
  actor: Actor = OPERATOR,
): Promise<Vm> {
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  const runtime = await ctx.runtime();
  await ctx.store.transact((state) => {
    const record = current(state, vm);
    // A policy destroying a long-stopped VM must not take one somebody has just started.
    if (options.onlyIfStoppedSince !== undefined && (record.desired !== 'stopped' || record.lastStoppedAt !== options.onlyIfStoppedSince)) {
      throw new BerthError('VM_CHANGED', `VM ${vmRef(vm)} changed meanwhile; it was not destroyed.`, 'Nothing to do.');
    }
    record.desired = 'stopped';
  });
  if (vm.containerId) await runtime.removeContainer(vm.containerId);
  if (!options.keepData) await runtime.removeVolume(volumeName(vm.user, vm.name));
  return ctx.store.transact((state) => {
    const record = current(state, vm);
    state.vms = state.vms.filter((v) => v !== record);
    const who = options.onlyIfStoppedSince !== undefined ? 'destroy-after policy' : actorReason(actor);
    logVmEvent(state, vm, 'destroy', `${who}; home ${options.keepData ? 'kept' : 'removed'}`);
    return record;
  });
}

/** Recreates a VM's container on its image as it is now and its plan's resources, keeping the home. */
export async function rebuildVm(ctx: Berth, ref: string, actor: Actor = OPERATOR): Promise<Vm> {
  const state = await ctx.store.read();
  const vm = findVmFor(state, ref, actor);
  const runtime = await ctx.runtime();
  await resolveImage(runtime, vm.image);
  return recreateContainer(ctx, runtime, vm);
}

/** Makes a fresh container for a VM record (home volume kept) and starts it if it should run. */
export async function recreateContainer(ctx: Berth, runtime: DockerRuntime, vm: Vm): Promise<Vm> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const resources = resourcesFor(findPlan(state, vm.plan), cfg);
  const host = await runtime.hostInfo();
  checkCpus(resources, host.cpus);
  checkGpu(resources, host.runtimes);
  const stale = (await runtime.containers([...instanceFilter(state.instanceId), `${LABEL.user}=${vm.user}`, `${LABEL.vm}=${vm.name}`])).map(
    (c) => c.id,
  );
  // Forget the old container first: its `die` event must not read as the VM dying.
  await ctx.store.transact((st) => Object.assign(current(st, vm), { containerId: null }));
  for (const id of new Set([...(vm.containerId ? [vm.containerId] : []), ...stale])) await runtime.removeContainer(id);
  await ensureHomeVolume(runtime, state.instanceId, vm);
  await runtime.ensureNetwork(cfg['docker.network'], { [LABEL.managed]: 'true' });
  await ensureFirewall(ctx, runtime);
  const id = await runtime.createContainer(
    vmContainerSpec({
      user: vm.user,
      vm: vm.name,
      image: vm.image,
      network: cfg['docker.network'],
      resources,
      labels: vmLabels(state.instanceId, vm.user, vm.name, vm.plan),
    }),
  );
  if (vm.desired === 'running') await runtime.startContainer(id);
  return ctx.store.transact((s) =>
    Object.assign(current(s, vm), {
      containerId: id,
      phase: 'ready' as const,
      resources,
      ...(vm.desired === 'running' ? { lastStartedAt: now() } : {}),
    }),
  );
}
