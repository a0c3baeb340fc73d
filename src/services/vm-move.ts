import { LABEL, vmLabels } from '../docker/labels.js';
import type { DockerRuntime } from '../docker/runtime.js';
import { findVm, vmRef } from '../domain/lookups.js';
import { BerthError } from '../errors.js';
import type { Vm } from '../state/schema.js';
import type { Berth } from './context.js';
import { defaultsMissing, engineMode, nodeEngine, reachable, swarmManager } from './engines.js';
import { startVm, stopVm } from './vms.js';

/** A stopped helper container that only mounts a volume at /home-copy (for the engine's archive calls). */
async function holder(runtime: DockerRuntime, image: string, volume: string, instanceId: string): Promise<string> {
  return runtime.createContainer({
    Image: image,
    Entrypoint: ['true'],
    Labels: { [LABEL.managed]: 'true', [LABEL.instance]: instanceId },
    HostConfig: { NetworkMode: 'none', CapDrop: ['ALL'], Mounts: [{ Type: 'volume', Source: volume, Target: '/home-copy' }] },
  });
}

/**
 * Moves a Swarm VM to another node: stop it, copy its home from the old node's engine to the new
 * one's (a tar stream between two stopped helper containers), pin its service to the new node,
 * start it there if it was running. The old home is removed only once the VM runs on the new node;
 * until the pin changes, a failure leaves the VM where it was (the partial copy is removed).
 */
export async function moveVm(ctx: Berth, ref: string, to: string): Promise<Vm> {
  const state = await ctx.store.read();
  if (engineMode(state) !== 'swarm')
    throw new BerthError('NOT_SWARM', 'Only VMs on a Swarm move between nodes.', 'berth config engine is local.');
  const vm = findVm(state, ref);
  const { api, nodeId: self } = await swarmManager(ctx);
  const nodes = await api.nodes();
  const target = nodes.find((n) => n.id === to || n.hostname === to);
  if (!target) throw new BerthError('NODE_NOT_FOUND', `There is no Swarm node "${to.slice(0, 64)}".`, 'See berth node list.');
  const from = vm.node ?? self;
  if (!vm.node)
    throw new BerthError(
      'VM_NOT_ON_SWARM',
      `VM ${vmRef(vm)} is a container from before swarm mode.`,
      `Make it a service first: berth vm rebuild ${vmRef(vm)}`,
    );
  if (target.id === from) throw new BerthError('VM_ALREADY_THERE', `VM ${vmRef(vm)} is on ${target.hostname} already.`, 'Nothing to do.');
  const missing = defaultsMissing(state.nodes?.find((n) => n.id === target.id)?.defaults);
  if (missing.length)
    throw new BerthError(
      'NODE_UNFIT',
      `Node ${target.hostname} cannot take VMs: ${missing.join('; ')}.`,
      `See berth node show ${target.hostname}`,
    );
  const home = state.homes.find((h) => h.id === vm.home);
  const owner = state.users.find((u) => u.login === vm.user);
  if (!home || !owner) throw new Error(`berth bug: VM ${vmRef(vm)} without home or owner`);
  const [source, dest] = await Promise.all([
    nodeEngine(ctx, from).then((r) => reachable(r, from)),
    nodeEngine(ctx, target.id).then((r) => reachable(r, target.hostname)),
  ]);
  if (await dest.volume(home.volume)) {
    throw new BerthError(
      'VOLUME_CONFLICT',
      `Node ${target.hostname} has a volume ${home.volume} already.`,
      "Remove it there first (it is not this VM's home).",
    );
  }
  const wasRunning = vm.desired === 'running';
  if (wasRunning) await stopVm(ctx, ref);
  const helpers: Array<[DockerRuntime, string]> = [];
  let copied = false;
  try {
    const a = await holder(source, vm.image, home.volume, state.instanceId);
    helpers.push([source, a]);
    await dest.createVolume(home.volume, vmLabels(state.instanceId, vm, owner.id));
    const b = await holder(dest, vm.image, home.volume, state.instanceId);
    helpers.push([dest, b]);
    // Entries come as home-copy/…: unpacked at / they land in the new volume, owners and modes kept.
    await dest.archiveInto(b, '/', await source.archiveFrom(a, '/home-copy'));
    copied = true;
  } finally {
    for (const [runtime, id] of helpers) await runtime.removeContainer(id).catch(() => undefined);
    if (!copied) {
      await dest.removeVolume(home.volume).catch(() => undefined);
      if (wasRunning) await startVm(ctx, ref).catch(() => undefined);
    }
  }
  // The pin and the record change together; from here the VM lives on the new node.
  await api.updateService(`berth-${vm.id}`, (s) => {
    if (s.TaskTemplate?.Placement) s.TaskTemplate.Placement.Constraints = [`node.id==${target.id}`];
  });
  await ctx.store.transact((st) => {
    const record = st.vms.find((v) => v.id === vm.id);
    const h = st.homes.find((x) => x.id === home.id);
    if (record) record.node = target.id;
    if (h) h.node = target.id;
  });
  const moved = wasRunning ? await startVm(ctx, ref) : ((await ctx.store.read()).vms.find((v) => v.id === vm.id) as Vm);
  // The old node keeps Swarm's ended task containers of the VM (its task history): they go, then the old home.
  for (const c of await source.containers([`${LABEL.home}=${home.id}`])) await source.removeContainer(c.id).catch(() => undefined);
  await source.removeVolume(home.volume).catch(() => undefined);
  return moved;
}
