import pLimit from 'p-limit';
import { VM_CAPABILITIES } from '../../docker/hardening.js';
import { instanceFilter, LABEL } from '../../docker/labels.js';
import type { ContainerDetails, ContainerSummary, DockerRuntime } from '../../docker/runtime.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { State, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { clusterOf, requireCluster } from '../engine/cluster.js';
import { type FirewallState, firewallStatus } from '../network/firewall.js';
import { type NativeModules, nativeModules } from '../secrets/native-modules.js';
import { mountedBy } from '../vm/homes.js';
import { type BulkFailure, type BulkProgress, bulkConcurrency, inParallel } from '../vm/vm-bulk.js';
import { recreateContainer } from '../vm/vms.js';
import { listNodes } from './nodes.js';

export interface Drift {
  /** berth-labelled containers of this home that no VM record knows. */
  orphans: Array<{ id: string; name: string; user: string | null; vm: string | null; adoptable: boolean }>;
  /** VM records whose container is not on the engine. */
  missing: string[];
  /** VM records stuck half-created (a create was interrupted). */
  stuck: string[];
}

/**
 * An orphan is adopted only when its labels name a known user and plan and it is
 * hardened as berth makes VMs; anything else carrying berth's labels is removed.
 */
function adoptable(state: State, c: ContainerSummary, details: ContainerDetails | null): boolean {
  const user = c.labels[LABEL.user];
  const vm = c.labels[LABEL.vm];
  const plan = c.labels[LABEL.plan];
  const host = details?.hostConfig;
  const hardened = Boolean(
    host &&
      !host.Privileged &&
      host.CapDrop?.includes('ALL') &&
      (host.CapAdd ?? ([] as string[])).every((cap: string) => VM_CAPABILITIES.includes(cap)) &&
      (host.Binds ?? []).length === 0 &&
      (host.Mounts ?? []).every((m) => m.Type === 'volume') &&
      (host.Devices ?? []).length === 0 &&
      !['host'].includes(host.NetworkMode ?? '') &&
      host.PidMode !== 'host' &&
      host.IpcMode !== 'host' &&
      !(host.SecurityOpt ?? ([] as string[])).some((o: string) => /unconfined/.test(o)) &&
      (host.Memory ?? 0) > 0 &&
      (host.NanoCpus ?? 0) > 0 &&
      (host.PidsLimit ?? 0) > 0,
  );
  // Whose it is goes by the user id and the home (a login may have been freed and given to
  // someone else since): the container must name this user's own, unmounted home.
  const owner = state.users.find((u) => u.login === user && u.id === c.labels[LABEL.userId]);
  const home = state.homes.find((h) => h.id === c.labels[LABEL.home]);
  return Boolean(
    hardened &&
      owner &&
      vm &&
      plan &&
      home &&
      home.owner === owner.id &&
      !mountedBy(state, home) &&
      /^berth-[0-9a-f]{12}$/.test(c.name) &&
      state.plans.some((p) => p.name === plan) &&
      !state.vms.some((v) => v.user === user && v.name === vm),
  );
}

/** Orphans inspected at a time. */
const INSPECT_CONCURRENCY = 8;

/** The label Swarm puts on the containers of its tasks. */
const SWARM_TASK = 'com.docker.swarm.task.id';

export async function findDrift(ctx: Berth, runtime: DockerRuntime): Promise<Drift> {
  const state = await ctx.store.read();
  const swarm = (await clusterOf(ctx)) !== null;
  // On Swarm the engine here holds the containers of VMs made before swarm mode; Swarm's own task
  // containers (a stopped VM's last one among them) are its services', not orphans.
  // Apps' containers and their builds are the app supervisor's, not VMs.
  const containers = (await runtime.containers(instanceFilter(state.instanceId))).filter(
    (c) => !(swarm && c.labels[SWARM_TASK]) && !c.labels[LABEL.app] && !c.labels[LABEL.build],
  );
  const known = new Set(state.vms.map((vm) => vm.containerId).filter(Boolean));
  const orphans = containers.filter((c) => !known.has(c.id));
  // Only the orphans are inspected (for their hardening), a few at a time.
  const limit = pLimit(INSPECT_CONCURRENCY);
  const details = await Promise.all(orphans.map((c) => limit(() => runtime.inspectContainer(c.id))));
  return {
    orphans: orphans.map((c, i) => ({
      id: c.id.slice(0, 12),
      name: c.name,
      user: c.labels[LABEL.user] ?? null,
      vm: c.labels[LABEL.vm] ?? null,
      adoptable: adoptable(state, c, details[i] ?? null),
    })),
    // Whose container (or, on Swarm, service) is gone: the backend knows where to look.
    missing: (await (await ctx.backend()).workloadsMissing(state.vms.filter((vm) => vm.phase === 'ready'))).map(vmRef),
    stuck: state.vms.filter((vm) => vm.phase === 'creating').map(vmRef),
  };
}

export interface ReconcileResult extends Drift {
  fixed: boolean;
  actions: string[];
  /** What could not be mended, with why; the rest was. */
  failed: BulkFailure[];
}

/**
 * Brings the engine and the state back together. Without `fix` it only reports.
 * Orphans are adopted when they are berth-made VMs of a known user and plan, else
 * removed (volumes are never removed); missing containers are recreated on the kept home,
 * `bulk.concurrency` at a time; one that fails is told and the others are still mended.
 */
export async function reconcile(ctx: Berth, options: { fix: boolean; onProgress?: BulkProgress }): Promise<ReconcileResult> {
  const runtime = await ctx.runtime();
  const drift = await findDrift(ctx, runtime);
  const actions: string[] = [];
  if (!options.fix) return { ...drift, fixed: false, actions, failed: [] };
  const state = await ctx.store.read();
  const containers = await runtime.containers(instanceFilter(state.instanceId));
  const concurrency = await bulkConcurrency(ctx);
  const total = drift.orphans.length + drift.missing.length + drift.stuck.length;
  const orphans = await inParallel(
    drift.orphans,
    (o) => o.name,
    async (orphan) => {
      const container = containers.find((c) => c.id.startsWith(orphan.id));
      if (!container) return;
      if (orphan.adoptable) {
        await adopt(ctx, runtime, container);
        actions.push(`adopted ${orphan.name} as ${orphan.user}/${orphan.vm}`);
      } else {
        await runtime.removeContainer(container.id);
        actions.push(`removed orphan container ${orphan.name} (its volume, if any, is kept)`);
      }
    },
    { concurrency, onProgress: options.onProgress, total },
  );
  const recreated = await inParallel(
    [...drift.missing, ...drift.stuck],
    (ref) => ref,
    async (ref) => {
      const vm = (await ctx.store.read()).vms.find((v) => vmRef(v) === ref) as Vm;
      await recreateContainer(ctx, vm);
      actions.push(`recreated the container of ${ref} (home ${vm.home} kept)`);
    },
    {
      concurrency,
      onProgress: options.onProgress,
      total,
      failedBefore: orphans.failed.length,
      doneBefore: orphans.done.length + orphans.failed.length,
    },
  );
  return { ...drift, fixed: true, actions: actions.sort(), failed: [...orphans.failed, ...recreated.failed].map((f) => f.failure) };
}

async function adopt(ctx: Berth, runtime: DockerRuntime, container: ContainerSummary): Promise<void> {
  const details = await runtime.inspectContainer(container.id);
  if (!details) return;
  const host = details.hostConfig;
  await ctx.store.transact((state) => {
    const user = container.labels[LABEL.user] as string;
    const name = container.labels[LABEL.vm] as string;
    const home = container.labels[LABEL.home] as string;
    if (state.vms.some((v) => (v.user === user && v.name === name) || v.home === home)) return;
    state.vms.push({
      id: container.name.replace(/^berth-/, ''),
      user,
      name,
      home,
      plan: container.labels[LABEL.plan] as string,
      image: details.image,
      phase: 'ready',
      containerId: container.id,
      desired: details.running ? 'running' : 'stopped',
      resources: {
        cpu: (host.NanoCpus as number) / 1e9,
        memoryBytes: host.Memory as number,
        pids: host.PidsLimit as number,
        gpu: host.DeviceRequests?.[0]?.Count === -1 ? 'all' : (host.DeviceRequests?.[0]?.Count ?? 0),
        sudo: !(host.SecurityOpt ?? ([] as string[])).some((o: string) => o.startsWith('no-new-privileges')),
        diskBytes: state.homes.find((h) => h.id === home)?.diskBytes ?? 0,
      },
      createdAt: new Date().toISOString(),
    });
  });
}

export interface DoctorReport {
  stateFile: { path: string; ok: boolean; problem: string | null };
  engine: { address: string; ok: boolean; version: string | null; problem: string | null };
  image: { ref: string; present: boolean };
  network: { name: string; present: boolean; interVmTrafficBlocked: boolean };
  drift: Drift | null;
  /** `off` is a warning (healthy, no isolation); anything but `ok` and `off` is unhealthy. */
  firewall: { state: FirewallState | 'unchecked'; detail: string; problems: string[] };
  /** Warnings only: berth works without them (file store for the token, pure JS ciphers). */
  native: NativeModules;
  /** Warnings only: web apps served at paths of berth's own origin (web.path-apps), where an app acts as berth's pages could. */
  web: { pathApps: boolean; appsDomain: string; warning: string | null };
  /** On Swarm (config engine swarm): each node, and what it lacks; null on one engine. */
  nodes: Array<{ hostname: string; id: string; ok: boolean; vms: number; problems: string[] }> | null;
  healthy: boolean;
}

/** How the web server serves users' apps, and the warning when they share berth's origin. */
export function webAppsCheck(cfg: ReturnType<typeof effectiveConfig>): DoctorReport['web'] {
  const pathApps = cfg['web.enabled'] && cfg['web.path-apps'];
  return {
    pathApps,
    appsDomain: cfg['web.apps-domain'],
    warning: pathApps
      ? "web.path-apps is on: users' web apps run on berth's own origin, where an app's page can act as berth's pages do (imitate the terminal page, set cookies, read what berth's pages show). Prefer web.apps-domain (each app an origin of its own), then: berth config set web.path-apps off"
      : null,
  };
}

export async function doctor(ctx: Berth): Promise<DoctorReport> {
  const native = await nativeModules();
  let state: State;
  try {
    state = await ctx.store.read();
  } catch (err) {
    const problem = err instanceof BerthError ? err.message : String(err);
    return {
      stateFile: { path: ctx.store.path, ok: false, problem },
      engine: { address: '-', ok: false, version: null, problem: 'not checked: the state file comes first' },
      image: { ref: '-', present: false },
      network: { name: '-', present: false, interVmTrafficBlocked: false },
      drift: null,
      firewall: { state: 'unchecked', detail: 'not checked: the state file comes first', problems: [] },
      native,
      web: { pathApps: false, appsDomain: '', warning: null },
      nodes: null,
      healthy: false,
    };
  }
  const cfg = effectiveConfig(state.config);
  const report: DoctorReport = {
    stateFile: { path: ctx.store.path, ok: true, problem: null },
    engine: { address: '', ok: false, version: null, problem: null },
    image: { ref: cfg.image, present: false },
    network: { name: cfg['docker.network'], present: false, interVmTrafficBlocked: false },
    drift: null,
    firewall: { state: 'unchecked', detail: 'not checked: the engine did not answer', problems: [] },
    native,
    web: webAppsCheck(cfg),
    nodes: null,
    healthy: false,
  };
  try {
    const runtime = await ctx.runtime();
    report.engine.address = runtime.address;
    report.engine.version = (await runtime.version()).version;
    report.engine.ok = true;
    report.image.present = (await runtime.image(cfg.image)) !== null;
    const network = await runtime.network(cfg['docker.network']);
    report.network.present = network !== null;
    report.network.interVmTrafficBlocked = network?.options['com.docker.network.bridge.enable_icc'] === 'false';
    report.drift = await findDrift(ctx, runtime);
    const fw = await firewallStatus(ctx);
    report.firewall = { state: fw.state, detail: fw.detail, problems: fw.problems };
    if (await clusterOf(ctx)) {
      const { api } = await (await requireCluster(ctx)).manager();
      await (await requireCluster(ctx)).checkNodes(await api.nodes(), true);
      // A node berth drained on purpose is not a fault.
      report.nodes = (await listNodes(ctx, { check: true })).map((n) => {
        const problems = n.problems.filter((p) => !p.startsWith('drained by berth'));
        return { hostname: n.hostname, id: n.id, ok: problems.length === 0, vms: n.vms, problems };
      });
    }
  } catch (err) {
    report.engine.problem = err instanceof BerthError ? err.message : String(err);
  }
  const drift = report.drift;
  report.healthy =
    report.engine.ok &&
    report.image.present &&
    (!report.network.present || report.network.interVmTrafficBlocked) &&
    drift !== null &&
    (report.firewall.state === 'ok' || report.firewall.state === 'off') &&
    drift.orphans.length + drift.missing.length + drift.stuck.length === 0 &&
    (report.nodes ?? []).every((n) => n.ok);
  return report;
}
