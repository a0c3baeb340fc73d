import { vmRef } from '../../domain/lookups.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { daemonStatus, startDaemon, stopDaemon } from '../control/daemon-control.js';
import type { DaemonStatus } from '../control/daemon-routes.js';
import type { Berth } from '../core/context.js';
import { ensureFirewall, type FirewallReport } from '../network/firewall.js';
import { buildImage, DEFAULT_TEMPLATE, templateTag } from '../vm/images.js';
import { type BulkFailure, type BulkProgress, stopVms } from '../vm/vm-bulk.js';
import { initHome } from './init.js';

export interface UpResult {
  initialised: boolean;
  imageBuilt: string | null;
  daemonStarted: boolean;
  daemon: DaemonStatus;
  firewall: FirewallReport;
}

/**
 * berth's main job in one idempotent step: the home, the default VM image when it is
 * missing, the network's firewall rules, and the daemon.
 */
export async function up(
  ctx: Berth,
  options: { base?: string; onBuildLine?: (line: string) => void; onStep?: (step: string) => void } = {},
): Promise<UpResult> {
  const step = options.onStep ?? (() => undefined);
  const init = await initHome(ctx.store);
  if (init.created) step(`Initialised ${init.home}`);
  const config = effectiveConfig((await ctx.store.read()).config);
  const runtime = await ctx.runtime();
  let imageBuilt: string | null = null;
  if (!(await runtime.image(config.image))) {
    if (config.image !== templateTag(DEFAULT_TEMPLATE)) {
      step(`The configured image ${config.image} is missing; VMs cannot be created until it is built or pulled.`);
    } else {
      step(`Building the default VM image ${config.image}${options.base ? ` on ${options.base}` : ''}…`);
      imageBuilt = (await buildImage(ctx, { template: DEFAULT_TEMPLATE, base: options.base }, options.onBuildLine)).tag;
    }
  }
  const firewall = await ensureFirewall(ctx, runtime);
  if (firewall.changes.length) step(`Firewall: ${firewall.changes.join('; ')}`);
  if (firewall.state === 'off') step(`Firewall: ${firewall.detail}`);
  const before = await daemonStatus(ctx.store.home);
  const daemon = before.running ? before : await startDaemon(ctx.store.home);
  return { initialised: init.created, imageBuilt, daemonStarted: !before.running, daemon, firewall };
}

/** Stops the daemon; VMs keep running unless `stopVms` (then `bulk.concurrency` at a time; one that fails does not stop the rest). */
export async function down(
  ctx: Berth,
  options: { stopVms?: boolean; onProgress?: BulkProgress } = {},
): Promise<{ daemonPid: number | null; stoppedVms: string[]; failed: BulkFailure[] }> {
  const result = await stopDaemon(ctx.store.home);
  if (!options.stopVms) return { daemonPid: result?.pid ?? null, stoppedVms: [], failed: [] };
  const running = (await ctx.store.read()).vms.filter((v) => v.desired === 'running' && v.phase === 'ready');
  const stopped = await stopVms(
    ctx,
    running.map((vm) => ({ ref: vmRef(vm) })),
    undefined,
    { onProgress: options.onProgress },
  );
  return { daemonPid: result?.pid ?? null, stoppedVms: stopped.changed, failed: stopped.failed };
}
