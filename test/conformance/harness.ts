import type Docker from 'dockerode';
import { execa } from 'execa';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { BIN, type Run } from '../helpers/cli.js';

/** A CLI run, how long it took, and whether the guard had to kill it. */
export interface TimedRun extends Run {
  ms: number;
  timedOut: boolean;
}

/** A VM's workload as the engine that runs it shows it (a container's inspect, or the spec a fake received). */
export interface Workload {
  id: string;
  running: boolean;
  hostConfig: Docker.HostConfig;
  labels: Record<string, string>;
  /** Mounts as the engine reports them (Name: a volume's). */
  mounts: Array<{ Type?: string; Name?: string; Source?: string; Destination: string }>;
}

/** What a plan gives each VM, as the engine must hold it. */
export interface PlanLimits {
  name: string;
  cpu: number;
  memoryBytes: number;
  pids: number;
}

/**
 * One backend berth's VMs run on, for the conformance cases (vm-cases.ts): a berth home with its
 * engine(s) configured, the CLI on it, a way to read the engine(s) behind berth's back, and a way
 * to freeze an engine (its socket accepts and never answers) and thaw it.
 */
export interface VmHarness {
  readonly name: string;
  /** Makes the engine(s) and the berth home, with the plans below. */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  readonly setupTimeoutMs: number;
  /** The built CLI on this home; killed past `timeoutMs` (default 120 s), which the result says. */
  berth(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<TimedRun>;
  readonly instanceId: () => string;
  /** How many engines run VMs: the cases' plan is sized so that this many VMs go one to each. */
  readonly engines: number;
  /** The plan of every case's users (max-vms 1). */
  readonly plan: PlanLimits;
  /** A plan no engine can hold, and how its create is refused. */
  readonly unfit: { plan: string; code: string; message: RegExp };
  /** A berth image whose container cannot start. */
  readonly brokenImage: string;
  /** Whether VMs run processes (exec, files): false for a backend without an engine. */
  readonly runsProcesses: boolean;
  /** Whether an engine can be frozen (false: an in-memory backend, which has no socket to freeze). */
  readonly freezes: boolean;
  /** The VM's workload now (its running container; locally also a stopped one), or null. */
  workload(login: string): Promise<Workload | null>;
  /** The home volume of the user's VM on whichever engine has it, or null. */
  homeVolume(login: string): Promise<{ name: string; labels: Record<string, string> } | null>;
  /** Everything of the user's on the engine(s): containers (any state), services, volumes, by name. */
  leftovers(login: string): Promise<string[]>;
  /** Removes the VM's workload behind berth's back (its container; on Swarm its service), once it is gone. */
  removeWorkload(login: string): Promise<void>;
  /**
   * Freezes the engine that runs the VM of one of `logins` (its socket takes connections and never
   * answers): on a Swarm a worker's, berth's own view of the cluster stays. Which VM's, and the thaw.
   */
  freeze(logins: string[]): Promise<{ login: string; thaw: () => Promise<void> }>;
}

/** Runs `file args` with the guard of `timeoutMs`: a process that does not exit is killed, and says so. */
export async function timed(
  file: string,
  args: string[],
  options: { env: Record<string, string>; input?: string; timeoutMs?: number },
): Promise<TimedRun> {
  const started = Date.now();
  const r = await execa(file, args, {
    env: options.env,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : undefined,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
    forceKillAfterDelay: 2_000,
  });
  return {
    code: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    ms: Date.now() - started,
    timedOut: Boolean(r.timedOut),
  };
}

/** The built CLI's program and arguments (for a harness that runs it elsewhere, e.g. in a namespace). */
export const cliArgs = (args: string[]) => ['node', BIN, ...args];

/** The BerthError code of a failed `--json` run (its last stderr line), or '' when there is none. */
export function errorCode(r: Run): string {
  try {
    return (JSON.parse(r.stderr.trim().split('\n').pop() ?? '{}') as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    return '';
  }
}

export const parseVms = (stdout: string) => VmViewSchema.array().parse(JSON.parse(stdout));
