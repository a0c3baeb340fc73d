import pLimit from 'p-limit';
import { type Actor, OPERATOR } from '../../domain/actor.js';
import { findUser, findVmFor, vmRef } from '../../domain/lookups.js';
import { checkMaintenance, checkMayOwnVms } from '../../domain/policies.js';
import { BerthError, type ErrorCode } from '../../errors.js';
import type { StopReason, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { actorReason, logVmEvent, stopKind } from './vm-event-log.js';
import { notReady, specOf } from './vms.js';

/**
 * Actions on many VMs at once (maintenance, `down --stop-vms`, the policies, reconcile, the
 * bot's admin commands): the intents are recorded in one state transaction, the engine is asked
 * `bulk.concurrency` VMs at a time, and the outcomes are recorded in one more. A VM that fails
 * is told with why; the others go on.
 */

export interface BulkFailure {
  vm: string;
  code: ErrorCode;
  error: string;
}

export interface BulkResult {
  /** The VMs acted on, sorted. */
  changed: string[];
  failed: BulkFailure[];
}

/** After each VM: how far the action is. */
export interface BulkStep {
  vm: string;
  done: number;
  total: number;
  failed: number;
  error?: string;
}
export type BulkProgress = (step: BulkStep) => void;

export interface BulkOptions {
  onProgress?: BulkProgress;
  /** VMs at once; config `bulk.concurrency` when left out. */
  concurrency?: number;
}

/**
 * How long the engine may take to start or stop one VM in a bulk action (a stop's 10 s grace
 * included): an engine that hangs on one (it happens to a loaded dockerd) fails that VM, not the
 * whole action.
 */
export const ENGINE_STEP = { start: { ms: 60_000, what: 'start VM' }, stop: { ms: 60_000, what: 'stop VM' } };

export const failureOf = (vm: string, err: unknown): BulkFailure => ({
  vm,
  code: err instanceof BerthError ? err.code : 'ERROR',
  error: (err as Error).message ?? String(err),
});

export async function bulkConcurrency(ctx: Berth): Promise<number> {
  return effectiveConfig((await ctx.store.read()).config)['bulk.concurrency'];
}

/**
 * Runs `work` for every item, `concurrency` at a time, whatever some of them do: the items done
 * and those that failed, with why. `onProgress` hears of each as it ends.
 */
export async function inParallel<T>(
  items: T[],
  name: (item: T) => string,
  work: (item: T, signal?: AbortSignal) => Promise<void>,
  options: {
    concurrency: number;
    onProgress?: BulkProgress;
    total?: number;
    doneBefore?: number;
    failedBefore?: number;
    /** Each item's longest wait, and what it is in words ("stop VM"): past it, it fails (ENGINE_TIMEOUT) and the next goes. */
    deadline?: { ms: number; what: string };
  },
): Promise<{ done: T[]; failed: Array<{ item: T; failure: BulkFailure }> }> {
  const limit = pLimit(Math.max(1, options.concurrency));
  const done: T[] = [];
  const failed: Array<{ item: T; failure: BulkFailure }> = [];
  const total = options.total ?? items.length;
  // Earlier parts of the same action (refused at once, or a first batch): counted in.
  const failedBefore = options.failedBefore ?? 0;
  const doneBefore = options.doneBefore ?? failedBefore;
  await Promise.all(
    items.map((item) =>
      limit(async () => {
        let error: string | undefined;
        try {
          const { deadline } = options;
          if (deadline) await withDeadline(deadline.ms, `${deadline.what} ${name(item)}`, (signal) => work(item, signal));
          else await work(item);
          done.push(item);
        } catch (err) {
          const failure = failureOf(name(item), err);
          failed.push({ item, failure });
          error = failure.error;
        }
        const ended = doneBefore + done.length + failed.length;
        options.onProgress?.({ vm: name(item), done: ended, total, failed: failedBefore + failed.length, error });
      }),
    ),
  );
  return { done, failed };
}

/** What each claimed VM was before the claim, for a roll-back. */
interface Claim {
  vm: Vm;
  before: Pick<Vm, 'desired' | 'stopReason'>;
}

/**
 * Starts these VMs, with the checks `vm start` makes (owner allowed, maintenance, host memory:
 * counted over all of them, in the order given).
 */
export async function startVms(ctx: Berth, refs: string[], actor: Actor = OPERATOR, options: BulkOptions = {}): Promise<BulkResult> {
  if (refs.length === 0) return { changed: [], failed: [] };
  const backend = await ctx.backend();
  const [admission, concurrency] = await Promise.all([backend.admission(), options.concurrency ?? bulkConcurrency(ctx)]);
  const refused: BulkFailure[] = [];
  const claimed = await ctx.store.transact((state) => {
    const cfg = effectiveConfig(state.config);
    const out: Claim[] = [];
    for (const ref of refs) {
      try {
        const record = findVmFor(state, ref, actor);
        if (!record.containerId || record.phase !== 'ready') throw notReady(record);
        checkMayOwnVms(findUser(state, record.user));
        checkMaintenance(state, actor, 'started');
        admission.checkStart(state, record, cfg.overcommit);
        out.push({ vm: { ...record }, before: { desired: record.desired, stopReason: record.stopReason } });
        record.desired = 'running';
      } catch (err) {
        refused.push(failureOf(ref, err));
      }
    }
    return { claims: out };
  });
  const newContainers = new Map<string, string>();
  const { done, failed } = await inParallel(
    claimed.claims,
    (c) => vmRef(c.vm),
    // The backend finds the container (its home attached first), or (Swarm) makes a new one.
    async ({ vm }) => {
      newContainers.set(vmRef(vm), await backend.start(vm, await specOf(ctx, vm)));
    },
    { concurrency, onProgress: options.onProgress, failedBefore: refused.length, total: refs.length, deadline: ENGINE_STEP.start },
  );
  await ctx.store.transact((state) => {
    const at = new Date().toISOString();
    for (const { vm } of done) {
      const record = state.vms.find((v) => v.user === vm.user && v.name === vm.name);
      if (!record) continue;
      delete record.stopReason;
      logVmEvent(state, vm, 'start', actorReason(actor));
      Object.assign(record, { lastStartedAt: at, lastActiveAt: at });
      const id = newContainers.get(vmRef(vm));
      if (id) record.containerId = id;
    }
    for (const { item } of failed) {
      const record = state.vms.find((v) => v.user === item.vm.user && v.name === item.vm.name);
      if (record) record.desired = item.before.desired;
    }
  });
  return { changed: done.map((c) => vmRef(c.vm)).sort(), failed: [...refused, ...failed.map((f) => f.failure)] };
}

export interface StopRequest {
  ref: string;
  /** Why berth stops it (a policy, maintenance, a revoke); by default who asked (operator or user). */
  reason?: StopReason;
}

/** Stops these VMs, as `vm stop` does each (the intent recorded first, so their `die` events read as berth's doing). */
export async function stopVms(
  ctx: Berth,
  requests: StopRequest[],
  actor: Actor = OPERATOR,
  options: BulkOptions = {},
): Promise<BulkResult> {
  if (requests.length === 0) return { changed: [], failed: [] };
  const backend = await ctx.backend();
  const concurrency = options.concurrency ?? (await bulkConcurrency(ctx));
  const refused: BulkFailure[] = [];
  const claims = await ctx.store.transact((st) => {
    const out: Array<Claim & { reason: StopReason }> = [];
    for (const { ref, reason } of requests) {
      try {
        const record = findVmFor(st, ref, actor);
        if (!record.containerId || record.phase !== 'ready') throw notReady(record);
        const stopReason: StopReason = reason ?? (actor.role === 'admin' ? 'operator' : 'user');
        out.push({ vm: { ...record }, before: { desired: record.desired, stopReason: record.stopReason }, reason: stopReason });
        Object.assign(record, { desired: 'stopped', stopReason });
      } catch (err) {
        refused.push(failureOf(ref, err));
      }
    }
    return out;
  });
  const { done, failed } = await inParallel(
    claims,
    (c) => vmRef(c.vm),
    async ({ vm }, signal) => backend.stop(vm, signal),
    { concurrency, onProgress: options.onProgress, failedBefore: refused.length, total: requests.length, deadline: ENGINE_STEP.stop },
  );
  await ctx.store.transact((st) => {
    const at = new Date().toISOString();
    for (const { vm, reason } of done) {
      const record = st.vms.find((v) => v.user === vm.user && v.name === vm.name);
      if (!record) continue;
      // A policy's stop says which policy; any other says who stopped the VM.
      const byPolicy = reason === 'idle' || reason === 'lifetime' || reason === 'maintenance';
      logVmEvent(st, vm, stopKind(reason), byPolicy ? reason : actorReason(actor));
      record.lastStoppedAt = at;
    }
    for (const { item } of failed) {
      const record = st.vms.find((v) => v.user === item.vm.user && v.name === item.vm.name);
      if (record) Object.assign(record, item.before);
    }
  });
  return { changed: done.map((c) => vmRef(c.vm)).sort(), failed: [...refused, ...failed.map((f) => f.failure)] };
}
