import { GPU_KIND } from '../../docker/hardening.js';
import { LABEL, vmLabels } from '../../docker/labels.js';
import type { DockerRuntime } from '../../docker/runtime.js';
import { findVm, vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { Vm } from '../../state/schema.js';
import type { Berth } from '../core/context.js';
import { clusterOf, requireCluster } from '../engine/cluster.js';
import { copyStallMs, copyWithStallDeadline, withDeadline } from '../engine/deadline.js';
import { defaultsMissing, NODE_DEADLINE_MS, reachable } from '../engine/engines.js';
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

/** Removes a volume, again while its engine still holds it (up to 8 s, within the clean-up deadline). */
async function volumeGone(runtime: DockerRuntime, name: string): Promise<void> {
  const end = Date.now() + 8_000;
  for (;;) {
    const removed = await runtime.removeVolume(name).then(
      () => true,
      (err: unknown) => {
        if (Date.now() > end) throw err;
        return false;
      },
    );
    if (removed) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Moves a Swarm VM to another node: stop it, copy its home from the old node's engine to the new
 * one's (a tar stream between two stopped helper containers), pin its service to the new node,
 * start it there if it was running. The old home is removed only once the VM runs on the new node;
 * until the pin changes, a failure leaves the VM where it was (the partial copy is removed); a copy
 * that passes no bytes for BERTH_MOVE_STALL_MS (60 s) fails with COPY_STALLED.
 */
export async function moveVm(ctx: Berth, ref: string, to: string): Promise<Vm> {
  const state = await ctx.store.read();
  if (!(await clusterOf(ctx)))
    throw new BerthError('NOT_SWARM', 'Only VMs on a Swarm move between nodes.', 'berth config engine is local.');
  const vm = findVm(state, ref);
  const { api, nodeId: self } = await (await requireCluster(ctx)).manager();
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
  const gpus = vm.resources.gpu === 'all' ? 0 : vm.resources.gpu;
  if (gpus > (target.generic[GPU_KIND] ?? 0))
    throw new BerthError(
      'NO_NODE_FITS',
      `VM ${vmRef(vm)} reserves ${gpus} GPU(s); node ${target.hostname} advertises ${target.generic[GPU_KIND] ?? 0}. Nothing was changed.`,
      'Move it to a node with GPUs (berth node list shows them).',
    );
  const home = state.homes.find((h) => h.id === vm.home);
  const owner = state.users.find((u) => u.login === vm.user);
  if (!home || !owner) throw new Error(`berth bug: VM ${vmRef(vm)} without home or owner`);
  const fromName = nodes.find((n) => n.id === from)?.hostname ?? from;
  const [source, dest] = await Promise.all([
    (await requireCluster(ctx)).nodeEngine(from).then((r) => reachable(r, from)),
    (await requireCluster(ctx)).nodeEngine(target.id).then((r) => reachable(r, target.hostname)),
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
    // A copy that stops moving (an engine or the network between them stalls) fails; it never hangs the move.
    const stallMs = copyStallMs();
    await copyWithStallDeadline(
      stallMs,
      `the home of VM ${vmRef(vm)} from node ${fromName} to node ${target.hostname}`,
      `The VM stays on node ${fromName} with its home; the partial copy on ${target.hostname} is removed. Check both nodes' engines and the network between them, then move it again.`,
      (signal) => source.archiveFrom(a, '/home-copy', signal),
      (tar, signal) => dest.archiveInto(b, '/', tar, signal),
    );
    copied = true;
  } finally {
    // Each clean-up call has a deadline: an engine that stalled the copy must not hang the move's end too.
    const within = (what: string, work: () => Promise<unknown>) => withDeadline(NODE_DEADLINE_MS * 2, what, work).catch(() => undefined);
    for (const [runtime, id] of helpers) await within('remove a copy helper', () => runtime.removeContainer(id));
    if (!copied) {
      // The target engine may still be letting go of the aborted unpack: the partial volume is removed once it can be.
      await within('remove the partial home', () => volumeGone(dest, home.volume));
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
