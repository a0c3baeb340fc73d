import { homeDir, instanceFilter, LABEL } from '../../docker/labels.js';
import { liveStats } from '../../docker/live-stats.js';
import type { DockerRuntime, ExecHandle, VmStats } from '../../docker/runtime.js';
import { type Actor, OPERATOR } from '../../domain/actor.js';
import { findVm, findVmFor, vmRef } from '../../domain/lookups.js';
import { BerthError, invalidInput } from '../../errors.js';
import type { Vm } from '../../state/schema.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';

/** The VM's login user: uid/gid 1000, made by the image's entrypoint. */
export const VM_UID = '1000:1000';

function notRunning(vm: Vm): BerthError {
  return new BerthError('VM_NOT_RUNNING', `VM ${vmRef(vm)} is not running.`, `Start it: berth vm start ${vmRef(vm)}`);
}

export function userEnv(vm: Vm, extra: string[] = []): string[] {
  const home = homeDir(vm.user);
  // berth's own last: Docker keeps the last value of a name, so a caller's cannot replace them.
  return [...extra, `HOME=${home}`, `USER=${vm.user}`, `LOGNAME=${vm.user}`];
}

export interface ExecRequest {
  cmd: string[];
  tty?: boolean;
  stdin?: boolean;
  env?: string[];
}

/**
 * Runs a command in a VM as its user, in their home — never as root, never through a
 * host shell: `cmd` is an argv array handed to the engine as it is.
 */
export async function execInVm(
  ctx: Berth,
  ref: string,
  request: ExecRequest,
  actor: Actor = OPERATOR,
): Promise<ExecHandle & { demux: (out: NodeJS.WritableStream, err: NodeJS.WritableStream) => void }> {
  if (request.cmd.length === 0)
    throw invalidInput('USAGE', 'No command given.', 'Put the command after --, e.g. berth vm exec alice -- ls -la');
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  if (!vm.containerId) throw notRunning(vm);
  // The engine of the VM's node (on Swarm; the manager's API cannot exec into another node's container).
  const backend = await ctx.backend();
  const runtime = await backend.engineOf(vm);
  const containerId = (await backend.containerOf(vm)) ?? vm.containerId;
  // No inspect first: the engine refuses an exec in a stopped container, and that is the check.
  const handle = await runtime
    .exec(containerId, {
      cmd: request.cmd,
      user: VM_UID,
      workdir: homeDir(vm.user),
      env: userEnv(vm, request.env),
      tty: request.tty ?? false,
      stdin: request.stdin ?? false,
    })
    .catch((err) => {
      throw err instanceof BerthError && err.code === 'VM_NOT_RUNNING' ? notRunning(vm) : err;
    });
  return { ...handle, demux: (out, err) => runtime.demux(handle.stream, out, err) };
}

/** An interactive login shell in the VM (bash when the image has it). */
export function shellCommand(): string[] {
  return ['/bin/sh', '-c', 'if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi'];
}

export async function vmLogs(ctx: Berth, ref: string, options: { follow: boolean; tail: number }, actor: Actor = OPERATOR) {
  const vm = findVmFor(await ctx.store.read(), ref, actor);
  if (!vm.containerId) throw new BerthError('VM_NOT_READY', `VM ${vmRef(vm)} has no container yet.`, 'Wait for its creation to finish.');
  const backend = await ctx.backend();
  const runtime = await backend.engineOf(vm);
  const stream = await runtime.logs((await backend.containerOf(vm)) ?? vm.containerId, options);
  return { stream, demux: (out: NodeJS.WritableStream, err: NodeJS.WritableStream) => runtime.demux(stream, out, err) };
}

export interface VmStatsView extends VmStats {
  ref: string;
}

/** How long one engine's stats may take (a list, then one sample of each VM). */
const STATS_DEADLINE_MS = 60_000;

/** Engine stats calls at a time where the numbers come from the engine (it is not on this machine). */
const STATS_CONCURRENCY = 8;

/**
 * One sample of CPU, memory, processes and network per running VM (or the one named): which run
 * is one filtered container list; the numbers come from the containers' cgroup files where the
 * engine is on this machine (no engine call), else from the engine, STATS_CONCURRENCY at a time.
 */
export async function vmStats(ctx: Berth, ref?: string): Promise<VmStatsView[]> {
  const state = await ctx.store.read();
  const vms = ref ? [findVm(state, ref)] : state.vms.filter((vm) => vm.containerId);
  // One list per engine (an engine that does not answer is left out; a VM named, it is an error).
  const groups = await (await ctx.backend()).eachEngine(vms, 'sample the VMs', STATS_DEADLINE_MS, (runtime, group) =>
    statsOn(runtime, state.instanceId, group, ref),
  );
  return groups.flatMap((g) => {
    if (g.error !== undefined && ref) throw g.error;
    return g.result ?? [];
  });
}

async function statsOn(runtime: DockerRuntime, instanceId: string, vms: Vm[], ref?: string): Promise<VmStatsView[]> {
  const labels = ref && vms[0] ? [`${LABEL.user}=${vms[0].user}`, `${LABEL.vm}=${vms[0].name}`] : [];
  const listed = vms.length ? await runtime.containers([...instanceFilter(instanceId), ...labels]) : [];
  const up = new Set(listed.filter((c) => c.state === 'running').map((c) => c.id));
  const running = vms.filter((vm) => vm.containerId && up.has(vm.containerId));
  if (ref && running.length === 0) throw new BerthError('VM_NOT_RUNNING', `VM ${ref} is not running.`, `Start it: berth vm start ${ref}`);
  const source = liveStats(runtime);
  try {
    const sampled = await source.sample(
      running.map((vm) => vm.containerId as string),
      STATS_CONCURRENCY,
    );
    // A VM that stopped between the list and its sample is left out (named, it is an error).
    return running.flatMap((vm) => {
      const result = sampled.get(vm.containerId as string);
      if (result?.status === 'fulfilled') return [{ ref: vmRef(vm), ...result.value }];
      if (ref) throw result?.reason ?? notRunning(vm);
      return [];
    });
  } finally {
    source.close();
  }
}

export interface CapturedRun {
  /** stdout (with stderr interleaved when `mergeStderr`). */
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  /** More output than `maxBytes` came; the rest was dropped (or the command stopped early). */
  truncated: boolean;
  timedOut: boolean;
}

export interface CaptureOptions {
  stdin?: Buffer;
  /** Killed (SIGKILL, inside the VM) after this long. */
  timeoutSeconds?: number;
  maxBytes?: number;
  mergeStderr?: boolean;
  /** Stop the command as soon as `maxBytes` is passed, instead of draining the rest. */
  stopAtLimit?: boolean;
  /** Aborted: the run is given up (its stream let go), with exit code -1. */
  abort?: AbortSignal;
}

/**
 * Runs a command in a VM as its user and collects what it prints — for front-ends
 * that answer with a message (the bot) rather than a terminal.
 */
export async function runInVm(
  ctx: Berth,
  ref: string,
  cmd: string[],
  options: CaptureOptions,
  actor: Actor = OPERATOR,
): Promise<CapturedRun> {
  const timeout = options.timeoutSeconds;
  const argv = timeout ? ['timeout', '-s', 'KILL', String(timeout), ...cmd] : cmd;
  const started = Date.now();
  const handle = await execInVm(ctx, ref, { cmd: argv, stdin: options.stdin !== undefined }, actor);
  const limit = options.maxBytes ?? 16 * 1024 * 1024;
  const { Writable } = await import('node:stream');
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  let size = 0;
  let truncated = false;
  let stopEarly: (code: number) => void = () => undefined;
  const stoppedEarly = new Promise<number>((resolve) => {
    stopEarly = resolve;
  });
  const sink = (name: 'stdout' | 'stderr') =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        const room = limit - size;
        if (room > 0) chunks[name].push(chunk.subarray(0, room));
        size += Math.min(chunk.length, Math.max(room, 0));
        if (chunk.length > room) {
          truncated = true;
          if (options.stopAtLimit) {
            handle.stream.destroy();
            stopEarly(-1);
          }
        }
        done();
      },
    });
  // A dropped connection ends the run (below); it must not become an uncaught error.
  handle.stream.on('error', () => undefined);
  const out = sink('stdout');
  handle.demux(out, options.mergeStderr ? out : sink('stderr'));
  if (options.stdin !== undefined) handle.stream.end(options.stdin);
  // A safety net on the host side in case the VM's `timeout` is missing or stuck.
  let hostKilled = false;
  const guard = timeout
    ? setTimeout(
        () => {
          hostKilled = true;
          handle.stream.destroy();
          stopEarly(137);
        },
        (timeout + 10) * 1000,
      )
    : undefined;
  const onAbort = () => {
    handle.stream.destroy();
    stopEarly(-1);
  };
  if (options.abort?.aborted) onAbort();
  options.abort?.addEventListener('abort', onAbort, { once: true });
  const exitCode = await Promise.race([handle.exitCode(options.abort), stoppedEarly]).finally(() => {
    clearTimeout(guard);
    options.abort?.removeEventListener('abort', onAbort);
  });
  const timedOut = hostKilled || (timeout !== undefined && exitCode === 137 && Date.now() - started >= timeout * 1000);
  return { stdout: Buffer.concat(chunks.stdout), stderr: Buffer.concat(chunks.stderr), exitCode, truncated, timedOut };
}

/** The variable that marks the processes of one gateway session inside a VM. */
export const SESSION_ENV = 'BERTH_SESSION';

const SESSION_TAG = /^[a-z0-9]{6,40}$/;
export const SESSION_SIGNALS = ['HUP', 'INT', 'QUIT', 'KILL', 'TERM', 'USR1', 'USR2', 'ALRM', 'ABRT', 'PIPE'] as const;
export type SessionSignal = (typeof SESSION_SIGNALS)[number];

// Finds the session's root processes (its tag in their environment, parent outside the VM's
// PID namespace: the exec itself) and signals each one and its process group. With `wrapped`
// the roots are the VM helper's `run` (which only waits): their children count as roots too
// (an interactive shell has a process group of its own). With `hangup`, when a root or any
// process still in one of those groups is alive 2 s after SIGHUP, the groups and roots get
// SIGKILL. A process that left the group (`nohup cmd &` from an interactive shell, `setsid`)
// lives on, as with sshd.
const SIGNAL_SCRIPT = `tag=$1; sig=$2; hangup=$3; wrapped=$4; report=$5; tagged=; roots=; groups=
for d in /proc/[0-9]*; do
  [ -r "$d/environ" ] || continue
  if tr '\\000' '\\n' <"$d/environ" 2>/dev/null | grep -qx "${SESSION_ENV}=$tag"; then
    pp=$(sed -n 's/^PPid:[[:space:]]*//p' "$d/status" 2>/dev/null)
    tagged="$tagged \${d#/proc/}:$pp"
  fi
done
for t in $tagged; do [ "\${t#*:}" = 0 ] && roots="$roots \${t%%:*}"; done
if [ "$wrapped" = 1 ]; then
  for t in $tagged; do for r in $roots; do [ "\${t#*:}" = "$r" ] && roots="$roots \${t%%:*}"; done; done
fi
# What the client that left will never read: the helper's report of how the command ended.
[ "$hangup" = 1 ] && trap 'rm -f -- "$report"' EXIT
[ -n "$roots" ] || exit 0
for p in $roots; do
  g=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f3)
  [ "\${g:-0}" -gt 1 ] 2>/dev/null && groups="$groups $g"
done
for g in $groups; do kill -s "$sig" -- "-$g" 2>/dev/null; done
for p in $roots; do kill -s "$sig" "$p" 2>/dev/null; done
[ "$hangup" = 1 ] || exit 0
i=0
while [ $i -lt 20 ]; do
  alive=
  for p in $roots; do kill -0 "$p" 2>/dev/null && alive=1; done
  for g in $groups; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
  [ -n "$alive" ] || exit 0
  sleep 0.1 2>/dev/null || sleep 1
  i=$((i + 1))
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
for p in $roots; do kill -s KILL "$p" 2>/dev/null; done
exit 0`;

/**
 * Sends a signal to the processes a gateway session started in a VM (those run with
 * `${SESSION_ENV}=tag`), as the VM's user. `hangup`: SIGHUP, then SIGKILL for what
 * outlives it — what a client that vanished leaves behind.
 */
export async function signalExecSession(
  ctx: Berth,
  ref: string,
  tag: string,
  signal: SessionSignal,
  options: { hangup?: boolean; wrapped?: boolean; actor?: Actor; deadlineMs?: number } = {},
): Promise<void> {
  if (!SESSION_TAG.test(tag)) throw invalidInput('INVALID_SESSION', 'That is not a session id.', 'Use the id berth ssh sessions shows.');
  if (!SESSION_SIGNALS.includes(signal)) {
    throw invalidInput('INVALID_SIGNAL', `SIG${signal} cannot be sent.`, `Use one of ${SESSION_SIGNALS.join(', ')}.`);
  }
  const run = async (abort?: AbortSignal) => {
    const handle = await execInVm(
      ctx,
      ref,
      {
        cmd: [
          '/bin/sh',
          '-c',
          SIGNAL_SCRIPT,
          'berth-signal',
          tag,
          signal,
          options.hangup ? '1' : '0',
          options.wrapped ? '1' : '0',
          exitReportPath(tag),
        ],
      },
      options.actor ?? OPERATOR,
    );
    // A dropped Docker connection must not become an uncaught 'error' in the daemon.
    handle.stream.on('error', () => undefined);
    handle.stream.resume();
    // Past the deadline (a VM whose /bin/sh never returns): its stream is let go at once.
    if (abort?.aborted) handle.stream.destroy();
    abort?.addEventListener('abort', () => handle.stream.destroy(), { once: true });
    await handle.exitCode(abort);
  };
  if (options.deadlineMs === undefined) return run();
  await withDeadline(options.deadlineMs, `end the processes of session ${tag}`, run);
}

/** Where the VM helper's `run` reports the signal that ended a session's command. */
const exitReportPath = (tag: string) => `/tmp/.berth-exit-${tag}`;

/** `cmd` run under the VM helper (templates/vm-helper.py), which reports a signal that ends it. */
export function wrapSessionCommand(helper: string, tag: string, cmd: string[]): string[] {
  return [helper, 'run', exitReportPath(tag), '--', ...cmd];
}

const EXIT_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

export interface ExitSignal {
  name: string;
  coreDumped: boolean;
}

/**
 * The signal that ended a wrapped session's command, when its exit code (128+n) may mean one:
 * Docker reports a signal death and `exit 143` alike, the helper's report tells them apart.
 */
export async function readExitSignal(
  ctx: Berth,
  ref: string,
  tag: string,
  exitCode: number,
  actor: Actor,
  deadlineMs = 10_000,
): Promise<ExitSignal | null> {
  if (!SESSION_TAG.test(tag) || exitCode <= 128 || exitCode > 128 + 64) return null;
  const run = await withDeadline(deadlineMs, 'read how the command ended', (abort) =>
    runInVm(
      ctx,
      ref,
      ['/bin/sh', '-c', 'cat -- "$1" 2>/dev/null && rm -f -- "$1"', 'berth-exit', exitReportPath(tag)],
      {
        maxBytes: 64,
        timeoutSeconds: 10,
        abort,
      },
      actor,
    ),
  ).catch(() => null);
  const match = run && /^([A-Z][A-Z0-9]{1,11}) ([01])\n?$/.exec(run.stdout.toString('utf8'));
  // Only the names RFC 4254 defines go out as exit-signal; any other signal stays 128+n.
  return match && EXIT_SIGNALS.has(match[1] as string) ? { name: match[1] as string, coreDumped: match[2] === '1' } : null;
}

// Every process whose environment carries the tag, roots or not, and whatever its process group:
// what an agent's run left behind (its tools' children included) when it is stopped. Prints how
// many were still there.
const KILL_TAGGED_SCRIPT = `tag=$1; n=0
for d in /proc/[0-9]*; do
  [ -r "$d/environ" ] || continue
  if tr '\\000' '\\n' <"$d/environ" 2>/dev/null | grep -qx "${SESSION_ENV}=$tag"; then
    kill -s KILL "\${d#/proc/}" 2>/dev/null && n=$((n + 1))
  fi
done
echo "$n"`;

// How many processes carry the tag (0 when none is left).
const COUNT_TAGGED_SCRIPT = `tag=$1; n=0
for d in /proc/[0-9]*; do
  [ -r "$d/environ" ] || continue
  tr '\\000' '\\n' <"$d/environ" 2>/dev/null | grep -qx "${SESSION_ENV}=$tag" && n=$((n + 1))
done
echo "$n"`;

/** SIGKILL to every process of the VM's user that carries `tag` (${SESSION_ENV}); how many there were. */
export async function killTaggedProcesses(ctx: Berth, ref: string, tag: string, actor: Actor = OPERATOR): Promise<number> {
  if (!SESSION_TAG.test(tag)) throw invalidInput('INVALID_SESSION', 'That is not a session id.', 'Use the id berth sessions shows.');
  const run = await withDeadline(15_000, `end the processes of ${tag}`, (abort) =>
    runInVm(ctx, ref, ['/bin/sh', '-c', KILL_TAGGED_SCRIPT, 'berth-kill', tag], { timeoutSeconds: 10, maxBytes: 64, abort }, actor),
  );
  return Number.parseInt(run.stdout.toString('utf8'), 10) || 0;
}

/** How many processes in the VM carry `tag`. */
export async function countTaggedProcesses(ctx: Berth, ref: string, tag: string, actor: Actor = OPERATOR): Promise<number> {
  if (!SESSION_TAG.test(tag)) throw invalidInput('INVALID_SESSION', 'That is not a session id.', 'Use the id berth sessions shows.');
  const run = await withDeadline(15_000, `count the processes of ${tag}`, (abort) =>
    runInVm(ctx, ref, ['/bin/sh', '-c', COUNT_TAGGED_SCRIPT, 'berth-count', tag], { timeoutSeconds: 10, maxBytes: 64, abort }, actor),
  );
  return Number.parseInt(run.stdout.toString('utf8'), 10) || 0;
}
