/*
 * What the agent runs decide, apart from running them (services/agents/agent-runs.ts does that):
 * whether a user's message starts a run, waits or is refused, which one goes next when a run
 * ends, when a run is stopped and how it ended. No exec, no timer, no store here.
 */

/**
 * One user's queue: a run under way (being prepared, or its agent running) and at most one
 * message waiting behind it. Users do not wait for each other.
 */
export interface AgentQueue<W> {
  readonly busy: boolean;
  readonly waiting?: W;
}

export const IDLE_QUEUE: AgentQueue<never> = { busy: false };

export type QueueEvent<W> =
  /** A message to the agent. */
  | { kind: 'message'; item: W }
  /** The run could not start (its preparation refused it: no key, no agent, no VM…). */
  | { kind: 'refused' }
  /** The run ended, however. */
  | { kind: 'ended' }
  /** `/stop` (or the daemon stopping): the run ends, what waits is dropped. */
  | { kind: 'stop' };

export type QueueStep<W> =
  /** Begin a run of `item` now. */
  | { kind: 'start'; item: W }
  /** It waits for the run under way. */
  | { kind: 'wait' }
  /** A run goes on and one message waits already. */
  | { kind: 'refuse' }
  /** Stop the run under way. */
  | { kind: 'stop-run' }
  | { kind: 'none' };

/** The queue after `event`, and what to do. */
export function nextInQueue<W>(queue: AgentQueue<W>, event: QueueEvent<W>): { queue: AgentQueue<W>; step: QueueStep<W> } {
  switch (event.kind) {
    case 'message':
      if (!queue.busy) return { queue: { busy: true }, step: { kind: 'start', item: event.item } };
      if (queue.waiting !== undefined) return { queue, step: { kind: 'refuse' } };
      return { queue: { busy: true, waiting: event.item }, step: { kind: 'wait' } };
    case 'ended':
      if (queue.waiting !== undefined) return { queue: { busy: true }, step: { kind: 'start', item: queue.waiting } };
      return { queue: IDLE_QUEUE, step: { kind: 'none' } };
    // A message that came while the refused run was being prepared is dropped with it.
    case 'refused':
      return { queue: IDLE_QUEUE, step: { kind: 'none' } };
    case 'stop':
      return { queue: { busy: queue.busy }, step: queue.busy ? { kind: 'stop-run' } : { kind: 'none' } };
  }
}

export type RunStopReason = 'stopped' | 'timeout';

/**
 * A run's stopping. A stop asked for before the agent's process runs is remembered (the first
 * reason counts) and done as soon as it runs; the run does not begin at all if it was asked for
 * before. Once the process runs, the first stop halts it (SIGINT, then the kill); later ones add nothing.
 */
export interface RunStop {
  readonly reason: RunStopReason | null;
  readonly execStarted: boolean;
  readonly halting: boolean;
}

export const RUN_NOT_STARTED: RunStop = { reason: null, execStarted: false, halting: false };

/** `/stop`, `agent.timeout` or the daemon stopping: the state after, and whether to halt the agent now. */
export function stopRequested(run: RunStop, reason: RunStopReason): { run: RunStop; halt: boolean } {
  const halt = run.execStarted && !run.halting;
  return { run: { ...run, reason: run.reason ?? reason, halting: run.halting || halt }, halt };
}

/** The agent's process runs: the state after, and whether to halt it now (a stop came meanwhile). */
export function execStarted(run: RunStop): { run: RunStop; halt: boolean } {
  const halt = run.reason !== null && !run.halting;
  return { run: { ...run, execStarted: true, halting: run.halting || halt }, halt };
}

export type RunOutcome = 'done' | 'error' | 'stopped' | 'timeout';

/** How a run ended: stopped or timed out if it was, else done only on a result without error and exit code 0. */
export function runOutcome(run: RunStop, result: { error?: boolean } | undefined, exitCode: number): RunOutcome {
  return run.reason ?? (result && !result.error && exitCode === 0 ? 'done' : 'error');
}

/** Why a run failed, in a line: the agent's own answer when it reported an error, else its last stderr lines, else the exit code. */
export function runFailure(reportedError: boolean, answer: string, stderr: string, exitCode: number): string {
  if (reportedError) return answer;
  return stderr.trim().split('\n').slice(-3).join(' ') || `exit code ${exitCode}`;
}
