import type { State, StopReason, Vm } from '../state/schema.js';
import { type ConfigValues, effectiveConfig } from '../values/config-keys.js';
import { formatDuration } from '../values/durations.js';
import { formatSize, formatUsage } from '../values/sizes.js';
import { vmRef } from './lookups.js';

/*
 * What the VM policies decide (disk, lifetime, idle, destroy-after), from the state, the time and
 * what was read of the VMs: no engine, no clock, no store here. services/vm/vm-policies.ts reads,
 * asks these functions, and does what they say.
 */

/** What was read of a VM watched for idleness whose container its engine lists running. */
export interface VmActivity {
  /** Sessions the daemon's front-ends hold open to it (an SSH session keeps a VM alive). */
  sessions: number;
  /** Its CPU since the last pass, where that was read for nothing (the cgroup files). */
  cpuPercent?: number;
  /** Read only of a VM about to be stopped as idle: commands running in it ('unknown': the engine did not say). */
  execs?: number | 'unknown';
  /** Read only of such a VM whose CPU was not known: its CPU measured now ('unknown': it could not be). */
  cpuSample?: number | 'unknown';
}

export interface PolicyReadings {
  /** What each VM whose root filesystem berth measures wrote outside its home, by container id; null: not read. */
  writable: ReadonlyMap<string, number> | null;
  /** The VMs watched for idleness, by ref. One missing (its node did not answer, its container is not running) is not judged. */
  activity: ReadonlyMap<string, VmActivity>;
}

/** What the owner is told once the action is done (never when it failed). */
export interface PolicyNotice {
  kind: 'vm-stopped' | 'vm-destroyed';
  to: string;
  vm: string;
  text: string;
}

export type PolicyDecision =
  /** The VM was busy: idleness is counted from `at`. */
  | { kind: 'record-activity'; vm: string; at: string }
  | { kind: 'stop'; vm: string; reason: StopReason; detail: string; notice: PolicyNotice }
  /** Only if it is still stopped since `stoppedSince` (nobody started it meanwhile). */
  | { kind: 'destroy'; vm: string; keepData: boolean; stoppedSince: string | undefined; detail: string; notice: PolicyNotice };

type Stop = Extract<PolicyDecision, { kind: 'stop' }>;

const seconds = (from: string | undefined, now: Date) => (from ? (now.getTime() - Date.parse(from)) / 1000 : 0);

/** VMs the policies may stop: created, with a container, meant to run. */
export const policyRunning = (state: State): Vm[] =>
  state.vms.filter((vm) => vm.phase === 'ready' && vm.containerId && vm.desired === 'running');

/** VMs whose writes outside their homes berth measures itself (the engine does not limit them). */
export const measuredRootfs = (state: State): Vm[] =>
  policyRunning(state).filter((vm) => vm.resources.rootfsEnforced === 'measured' && vm.resources.rootfsBytes);

function stop(vm: Vm, reason: StopReason, detail: string): Stop {
  const ref = vmRef(vm);
  const next =
    reason === 'disk'
      ? 'Start it again and delete what you do not need outside your home (e.g. in /tmp), or ask the operator for a larger plan.'
      : 'Start it again when you need it.';
  const text = `Your VM ${ref} was stopped: ${detail}. ${next}`;
  return { kind: 'stop', vm: ref, reason, detail, notice: { kind: 'vm-stopped', to: vm.user, vm: ref, text } };
}

/** Stops for writing more outside the home than the plan allows, then for running longer than the plan's lifetime. */
function diskAndLifetimeStops(state: State, now: Date, writable: PolicyReadings['writable']): Stop[] {
  const stops: Stop[] = [];
  for (const vm of measuredRootfs(state)) {
    const used = writable?.get(vm.containerId as string) ?? 0;
    const limit = vm.resources.rootfsBytes as number;
    if (used > limit) stops.push(stop(vm, 'disk', `it wrote ${formatUsage(used)} outside its home, more than its ${formatSize(limit)}`));
  }
  const onDisk = new Set(stops.map((s) => s.vm));
  for (const vm of policyRunning(state)) {
    if (onDisk.has(vmRef(vm))) continue;
    const lifetime = state.plans.find((p) => p.name === vm.plan)?.maxLifetimeSeconds ?? 0;
    if (lifetime > 0 && seconds(vm.lastStartedAt, now) >= lifetime) {
      stops.push(stop(vm, 'lifetime', `ran longer than its plan's ${formatDuration(lifetime)}`));
    }
  }
  return stops;
}

/** The running VMs whose activity is to be read: those no other policy stops, when `idle-timeout` is on. */
export const watchedForIdle = (state: State, now: Date, writable: PolicyReadings['writable']): Vm[] =>
  watchedAmong(state, diskAndLifetimeStops(state, now, writable));

function watchedAmong(state: State, stops: Stop[]): Vm[] {
  if (effectiveConfig(state.config)['idle-timeout'] <= 0) return [];
  const stopping = new Set(stops.map((s) => s.vm));
  return policyRunning(state).filter((vm) => !stopping.has(vmRef(vm)));
}

export type IdleVerdict = 'active' | 'quiet' | 'unjudged' | 'idle';

/**
 * A watched VM: `active` (a session, CPU at `idle-cpu` or more, a command running in it), `quiet`
 * (not idle for `idle-timeout` yet), `unjudged` (berth could not read what it needs: left for the
 * next pass) or `idle` (to be stopped).
 */
export function idleVerdict(vm: Vm, seen: VmActivity, now: Date, cfg: ConfigValues): IdleVerdict {
  if (seen.sessions > 0 || (seen.cpuPercent != null && seen.cpuPercent >= cfg['idle-cpu'])) return 'active';
  if (seconds(vm.lastActiveAt ?? vm.lastStartedAt ?? vm.createdAt, now) < cfg['idle-timeout']) return 'quiet';
  if (seen.execs === undefined || seen.execs === 'unknown') return 'unjudged';
  if (seen.execs > 0) return 'active';
  if (seen.cpuPercent != null) return 'idle';
  if (seen.cpuSample === undefined || seen.cpuSample === 'unknown') return 'unjudged';
  return seen.cpuSample >= cfg['idle-cpu'] ? 'active' : 'idle';
}

/** Whether a watched VM is to be checked further (commands in it, its CPU now) before it is stopped as idle. */
export const idleCandidate = (vm: Vm, seen: VmActivity, now: Date, cfg: ConfigValues): boolean =>
  !['active', 'quiet'].includes(idleVerdict(vm, { sessions: seen.sessions, cpuPercent: seen.cpuPercent }, now, cfg));

/** VMs stopped longer than `destroy-after`: destroyed, their homes kept unless `destroy-after.remove-home`. */
function destroys(state: State, now: Date, cfg: ConfigValues): PolicyDecision[] {
  const after = cfg['destroy-after'];
  if (after <= 0) return [];
  const keepData = !cfg['destroy-after.remove-home'];
  const detail = `stopped for ${formatDuration(after)}${keepData ? '; its home is kept' : ''}`;
  return state.vms
    .filter((vm) => vm.phase === 'ready' && vm.desired === 'stopped' && seconds(vm.lastStoppedAt, now) >= after)
    .map((vm): PolicyDecision => {
      const ref = vmRef(vm);
      const notice: PolicyNotice = { kind: 'vm-destroyed', to: vm.user, vm: ref, text: `Your VM ${ref} was destroyed: ${detail}.` };
      return { kind: 'destroy', vm: ref, keepData, stoppedSince: vm.lastStoppedAt, detail, notice };
    });
}

/**
 * One pass of the policies: the busy VMs' activity recorded, then the stops (disk, lifetime, idle),
 * then the destroys. The state is the one read before the pass (a VM stopped by it is not destroyed by it).
 */
export function decidePolicies(state: State, now: Date, readings: PolicyReadings): PolicyDecision[] {
  const cfg = effectiveConfig(state.config);
  const stops = diskAndLifetimeStops(state, now, readings.writable);
  const busy: PolicyDecision[] = [];
  for (const vm of watchedAmong(state, stops)) {
    const seen = readings.activity.get(vmRef(vm));
    const verdict = seen ? idleVerdict(vm, seen, now, cfg) : 'unjudged';
    if (verdict === 'active') busy.push({ kind: 'record-activity', vm: vmRef(vm), at: now.toISOString() });
    if (verdict === 'idle') stops.push(stop(vm, 'idle', `idle for ${formatDuration(cfg['idle-timeout'])}`));
  }
  return [...busy, ...stops, ...destroys(state, now, cfg)];
}

/** When berth will next stop a running VM on its own (idle or lifetime), if ever. */
export function nextPolicyStop(vm: Vm, maxLifetimeSeconds: number, idleTimeout: number): { at: string; reason: StopReason } | null {
  if (vm.desired !== 'running' || !vm.lastStartedAt) return null;
  const candidates: Array<{ at: number; reason: StopReason }> = [];
  if (maxLifetimeSeconds > 0) candidates.push({ at: Date.parse(vm.lastStartedAt) + maxLifetimeSeconds * 1000, reason: 'lifetime' });
  if (idleTimeout > 0) candidates.push({ at: Date.parse(vm.lastActiveAt ?? vm.lastStartedAt) + idleTimeout * 1000, reason: 'idle' });
  const first = candidates.sort((a, b) => a.at - b.at)[0];
  return first ? { at: new Date(first.at).toISOString(), reason: first.reason } : null;
}
