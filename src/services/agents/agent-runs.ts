import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { LABEL } from '../../docker/labels.js';
import type { Actor } from '../../domain/actor.js';
import {
  type AgentQueue,
  execStarted,
  IDLE_QUEUE,
  nextInQueue,
  type QueueEvent,
  type QueueStep,
  RUN_NOT_STARTED,
  type RunOutcome,
  type RunStop,
  type RunStopReason,
  runFailure,
  runOutcome,
  stopRequested,
} from '../../domain/agent-queue.js';
import { type AgentEvent, LineSplitter, parseAgentLine } from '../../domain/agent-stream.js';
import { findPlan, findUser, ownVm, vmRef } from '../../domain/lookups.js';
import { checkMayOwnVms } from '../../domain/policies.js';
import { BerthError } from '../../errors.js';
import type { Conversation, State, Vm } from '../../state/schema.js';
import { AGENT_SESSION_PATTERN, type AgentPermission, type AgentSpec, agentArgv, agentsOfLabel } from '../../values/agents.js';
import { type ConfigValues, effectiveConfig } from '../../values/config-keys.js';
import { printable } from '../../values/names.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { revealUserSecret } from '../secrets/user-secrets.js';
import { execInVm, killTaggedProcesses, SESSION_ENV, signalExecSession } from '../vm/vm-exec.js';
import { startVm } from '../vm/vms.js';

/*
 * Conversations with a coding agent in a user's VM, driven from chat. The rules live here (who may
 * run one, which agent and permissions, one run per user with one waiting, the timeout, stopping
 * with nothing left behind, the conversation carried on); the bot only renders what a run says.
 *
 * The key reaches only the agent's process: the run is `sh -c WRAPPER` whose stdin carries
 * `NAME=value` lines (the key, the API's base URL) that it exports before it execs the agent. The
 * exec's Env (what `docker inspect` of the exec shows) holds only the run's tag and the agent's
 * fixed settings; the container's environment never changes.
 */

const WRAPPER = `dir=$1; shift
i=0; while [ ! -e /run/berth-ready ] && [ $i -lt 300 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
while IFS= read -r line && [ -n "$line" ]; do export "$line"; done
mkdir -p -- "$dir" && cd -- "$dir" || { echo "berth: cannot enter $dir" >&2; exit 125; }
exec "$@" </dev/null`;

/** How long an agent has after SIGINT before everything it started is killed. */
const STOP_GRACE_MS = 3000;
/** After the kill, how long the run's stream may take to end before berth stops waiting for it. */
const HARD_END_MS = 10_000;
/** Files named to the agent in the next prompt, at most. */
const MAX_PENDING_FILES = 10;
/** The most of the agent's stderr kept (for the error a failed run shows). */
const STDERR_KEEP = 4096;
/** The most of the answer kept. */
const ANSWER_LIMIT = 1024 * 1024;

export type { RunOutcome } from '../../domain/agent-queue.js';

/** What a finished run was: what the audit log, the metrics and `/agent` show. */
export interface AgentRunRecord {
  id: string;
  user: string;
  vm: string;
  agent: string;
  startedAt: string;
  durationMs: number;
  outcome: RunOutcome;
  session?: string;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  /** Why it failed, for the user (never holding the key). */
  error?: string;
}

export interface AgentRunResult extends AgentRunRecord {
  /** The agent's final answer. */
  answer: string;
}

/** What a front-end is told while a run goes on. */
export interface RunObserver {
  /** The run is under way (the VM was started first when `startedVm`). */
  started?(info: { agent: AgentSpec; vm: string; resumed: boolean; startedVm: boolean }): void;
  event(event: AgentEvent): void;
  finished(result: AgentRunResult): void;
}

/** A VM's agents, from its image's label (`dev.berth.agents`). */
export function vmAgents(labels: Record<string, string> | undefined): AgentSpec[] {
  return agentsOfLabel(labels?.[LABEL.agents]);
}

/** What a plan lets an agent do (off unless set). */
export const planAgentPermission = (state: State, login: string): AgentPermission =>
  findPlan(state, findUser(state, login).plan).agent ?? 'off';

/** `~/work` → `work` (relative to the home, where an exec starts). */
export const workdirInHome = (workdir: string) => (workdir === '~' ? '.' : workdir.replace(/^~\//, ''));

interface Prepared {
  vm: Vm;
  agent: AgentSpec;
  permission: Exclude<AgentPermission, 'off'>;
  key: string;
  conversation?: Conversation;
  startedVm: boolean;
}

interface ActiveRun {
  id: string;
  login: string;
  vm: string;
  agent: string;
  tag: string;
  startedAt: number;
  stop(reason: RunStopReason): void;
  done: Promise<AgentRunResult>;
}

interface Queued {
  prompt: string;
  actor: Actor;
  observer: RunObserver;
}

export interface AgentRunsOptions {
  /** A run began and ended: the daemon lists it with the sessions (idle policy, `berth sessions`). */
  track?: (run: { id: string; user: string; vm: string; agent: string; startedAt: number; stop: () => void }) => () => void;
  /** Every finished run: the audit line and the metrics. */
  audit?: (record: AgentRunRecord) => void;
}

/** What a run's agent said: kept as it comes, for the record and the answer at the end. */
interface RunOutput {
  session?: string;
  answer: string;
  result?: Extract<AgentEvent, { kind: 'result' }>;
  stderr: string;
  exitCode: number;
}

/** A run being launched: what it is, what it asks, who hears of it, how it stops. */
interface Job {
  run: ActiveRun;
  prepared: Prepared;
  prompt: string;
  actor: Actor;
  observer: RunObserver;
  stopper: RunStopper;
}

/**
 * A run's stopping, as domain/agent-queue.ts decides it: the halt (SIGINT, then the kill) once the
 * agent's process runs; past the halt, the wait for its exit ends even if its stream does not.
 */
class RunStopper {
  private state: RunStop = RUN_NOT_STARTED;
  private halting: Promise<void> | null = null;
  private finished = false;
  private stream: { destroy(): void } | undefined;
  /** Aborted when even the kill did not end the agent's stream (a stalled engine): its exit is waited for no more. */
  readonly hardEnd = new AbortController();
  /** How to halt the agent, known once the run is prepared. */
  halt: (ended: () => boolean) => Promise<void> = async () => undefined;

  get reason(): RunStopReason | null {
    return this.state.reason;
  }

  request(reason: RunStopReason): void {
    const { run, halt } = stopRequested(this.state, reason);
    this.state = run;
    if (halt) this.beginHalt();
  }

  /** The agent's process runs, its output on `stream`. */
  started(stream: { destroy(): void }): void {
    this.stream = stream;
    const { run, halt } = execStarted(this.state);
    this.state = run;
    if (halt) this.beginHalt();
  }

  /** The run is over: waits for a halt under way to end; how it was stopped, if it was. */
  async ended(): Promise<RunStop> {
    this.finished = true;
    await (this.halting ?? Promise.resolve()).catch(() => undefined);
    return this.state;
  }

  private beginHalt(): void {
    this.halting = this.halt(() => this.finished).finally(() => {
      if (this.finished) return;
      setTimeout(() => {
        if (this.finished) return;
        this.stream?.destroy();
        this.hardEnd.abort();
      }, HARD_END_MS).unref?.();
    });
  }
}

/** The daemon's agent runs: one per user at a time, one more waiting (domain/agent-queue.ts decides). */
export class AgentRuns {
  private readonly active = new Map<string, ActiveRun>();
  private readonly queues = new Map<string, AgentQueue<Queued>>();
  private readonly lastRun = new Map<string, AgentRunRecord>();
  private readonly files = new Map<string, string[]>();

  constructor(
    private readonly ctx: Berth,
    private readonly options: AgentRunsOptions = {},
  ) {}

  current(login: string): Omit<ActiveRun, 'stop' | 'done'> | undefined {
    const run = this.active.get(login);
    if (!run) return undefined;
    const { stop: _s, done: _d, ...view } = run;
    return view;
  }

  last(login: string): AgentRunRecord | undefined {
    return this.lastRun.get(login);
  }

  isQueued(login: string): boolean {
    return this.queues.get(login)?.waiting !== undefined;
  }

  /** Runs in progress per VM ref (`vm show`, the TUI through the daemon's sessions). */
  runningOn(ref: string): number {
    let n = 0;
    for (const run of this.active.values()) if (run.vm === ref) n++;
    return n;
  }

  /** A file the user sent, saved in the work directory: named to the agent in the next prompt. */
  addFile(login: string, path: string): void {
    const list = [...(this.files.get(login) ?? []).filter((p) => p !== path), path].slice(-MAX_PENDING_FILES);
    this.files.set(login, list);
    if (this.files.size > 10_000) this.files.delete(this.files.keys().next().value as string);
  }

  /**
   * Runs the agent on `prompt` (or, while the user's run goes on, queues it: one deep). Refusals
   * (no agent on the plan, no key, no agent in the VM, a run and one waiting already) are thrown
   * before anything runs.
   */
  async submit(login: string, prompt: string, actor: Actor, observer: RunObserver): Promise<'started' | 'queued'> {
    const text = prompt.trim();
    if (!text) throw new BerthError('EMPTY_PROMPT', 'There is nothing to ask.', 'Write what the agent should do.');
    const step = this.apply(login, { kind: 'message', item: { prompt: text, actor, observer } });
    if (step.kind === 'refuse') {
      throw new BerthError(
        'AGENT_BUSY',
        'The agent is still working, and one message is already waiting.',
        'Wait for the answer, or end the run with /stop.',
      );
    }
    if (step.kind !== 'start') return 'queued';
    await this.begin(login, step.item);
    return 'started';
  }

  /** Ends the user's run (SIGINT, then everything it started is killed); false when none runs. Drops what waits. */
  stop(login: string): boolean {
    const run = this.apply(login, { kind: 'stop' }).kind === 'stop-run' ? this.active.get(login) : undefined;
    run?.stop('stopped');
    return run !== undefined;
  }

  /** Forgets the current conversation: the next message starts a new one. */
  async newConversation(login: string): Promise<Conversation | undefined> {
    this.files.delete(login);
    return this.ctx.store.transact((state) => {
      const user = findUser(state, login);
      const old = user.conversation;
      delete user.conversation;
      return old;
    });
  }

  /** Stops every run (the daemon stopping). */
  async stopAll(): Promise<void> {
    for (const login of [...this.queues.keys()]) this.apply(login, { kind: 'stop' });
    const runs = [...this.active.values()];
    for (const run of runs) run.stop('stopped');
    await Promise.allSettled(runs.map((r) => r.done));
  }

  /** The user's queue moved on by `event`, as domain/agent-queue.ts decides: what to do now. */
  private apply(login: string, event: QueueEvent<Queued>): QueueStep<Queued> {
    const { queue, step } = nextInQueue(this.queues.get(login) ?? IDLE_QUEUE, event);
    if (queue.busy) this.queues.set(login, queue);
    else this.queues.delete(login);
    return step;
  }

  private async prepare(login: string, actor: Actor): Promise<Prepared> {
    const state = await this.ctx.store.read();
    const user = findUser(state, login);
    // Revoked, rejected or pending: no run, and a queued prompt of theirs does not start either.
    checkMayOwnVms(user);
    const permission = planAgentPermission(state, login);
    if (permission === 'off') {
      throw new BerthError(
        'AGENT_OFF',
        `Your plan (${user.plan}) has no coding agent.`,
        'Ask the operator for a plan with one (berth plan set PLAN --agent edit).',
      );
    }
    // The conversation's VM while it is there; else the user's only one.
    const named = state.vms.some((v) => v.user === login && v.name === user.conversation?.vm) ? user.conversation?.vm : undefined;
    let vm = ownVm(state, login, named, { pick: (n) => `/agent ${n}`, none: 'Create one with /create' });
    if (vm.phase !== 'ready' || !vm.containerId) {
      throw new BerthError('VM_NOT_READY', `VM ${vmRef(vm)} is still being created.`, 'Try again in a moment.');
    }
    // The engine of the VM's node (on Swarm the manager's engine does not hold a worker's container).
    const backend = await this.ctx.backend();
    const runtime = await backend.engineOf(vm);
    const details = await runtime.inspectContainer((await backend.containerOf(vm)) ?? vm.containerId);
    const agents = vmAgents(details?.labels);
    const agent = agents.find((a) => a.name === user.conversation?.agent) ?? agents[0];
    if (!agent) {
      throw new BerthError(
        'NO_AGENT',
        `Your VM ${vmRef(vm)} has no coding agent.`,
        'Ask the operator to rebuild it on the agent image (berth image build --template agent; berth vm create … --template agent).',
      );
    }
    const key = await revealUserSecret(this.ctx.store, state, login, agent.secret);
    if (!key) {
      throw new BerthError(
        'NO_AGENT_KEY',
        `You have not given berth your ${agent.secret} API key yet.`,
        `Send /setkey ${agent.secret} YOUR_KEY (the message is deleted at once).`,
      );
    }
    let startedVm = false;
    if (!details?.running) {
      vm = await startVm(this.ctx, vmRef(vm), actor);
      startedVm = true;
    }
    const conversation =
      user.conversation && user.conversation.agent === agent.name && user.conversation.vm === vm.name ? user.conversation : undefined;
    return { vm, agent, permission, key, ...(conversation ? { conversation } : {}), startedVm };
  }

  private async begin(login: string, { prompt, actor, observer }: Queued): Promise<void> {
    // The run is listed before the first await (a stop meanwhile is remembered, and done once it runs).
    const stopper = new RunStopper();
    const stop = (reason: RunStopReason) => stopper.request(reason);
    const done = Promise.resolve({} as AgentRunResult);
    this.active.set(login, { id: '', login, vm: '', agent: '', tag: '', startedAt: Date.now(), stop, done });
    let prepared: Prepared;
    try {
      prepared = await this.prepare(login, actor);
    } catch (err) {
      this.active.delete(login);
      this.apply(login, { kind: 'refused' });
      throw err;
    }
    const files = this.files.get(login) ?? [];
    this.files.delete(login);
    const fullPrompt = files.length
      ? `${prompt}\n\n(Files I sent you, saved in the working directory: ${files.map((f) => f.split('/').pop()).join(', ')})`
      : prompt;
    const run = this.launch(login, prepared, fullPrompt, actor, observer, stopper);
    this.active.set(login, run);
    void run.done.then(() => this.next(login));
  }

  /** A run ended: the message waiting, if any, goes next. */
  private next(login: string): void {
    const step = this.apply(login, { kind: 'ended' });
    if (step.kind !== 'start') return;
    const waiting = step.item;
    this.begin(login, waiting).catch((err: unknown) => {
      const message = err instanceof BerthError ? err.message : 'the run could not start';
      waiting.observer.finished({
        id: '',
        user: login,
        vm: '',
        agent: '',
        startedAt: new Date().toISOString(),
        durationMs: 0,
        outcome: 'error',
        error: message,
        answer: '',
      });
    });
  }

  private launch(login: string, prepared: Prepared, prompt: string, actor: Actor, observer: RunObserver, stopper: RunStopper): ActiveRun {
    const ref = vmRef(prepared.vm);
    const id = randomBytes(6).toString('hex');
    const tag = `agent${id}`;
    stopper.halt = (ended) => this.halt(ref, tag, actor, ended);
    const stop = (reason: RunStopReason) => stopper.request(reason);
    const done = Promise.resolve({} as AgentRunResult);
    const run: ActiveRun = { id, login, vm: ref, agent: prepared.agent.name, tag, startedAt: Date.now(), stop, done };
    run.done = this.execute({ run, prepared, prompt, actor, observer, stopper });
    return run;
  }

  /** The run from start to end: listed with the sessions, under `agent.timeout`, its record made at the end. */
  private async execute(job: Job): Promise<AgentRunResult> {
    const { run, prepared, observer, stopper } = job;
    const { agent, conversation } = prepared;
    const cfg = effectiveConfig((await this.ctx.store.read()).config);
    const { id, login, vm, startedAt } = run;
    const untrack = this.options.track?.({ id, user: login, vm, agent: agent.name, startedAt, stop: () => run.stop('stopped') });
    const timer = setTimeout(() => run.stop('timeout'), cfg['agent.timeout'] * 1000);
    timer.unref?.();
    const output: RunOutput = { ...(conversation ? { session: conversation.session } : {}), answer: '', stderr: '', exitCode: -1 };
    observer.started?.({ agent, vm, resumed: conversation !== undefined, startedVm: prepared.startedVm });
    let stop: RunStop = RUN_NOT_STARTED;
    try {
      if (stopper.reason) throw new BerthError('AGENT_STOPPED', 'Stopped before it began.', '');
      await this.runAgent(job, cfg, output);
    } catch (err) {
      output.stderr = err instanceof BerthError ? err.message : String(err);
    } finally {
      clearTimeout(timer);
      stop = await stopper.ended();
      untrack?.();
      this.active.delete(login);
    }
    return this.finish(run, prepared.key, output, stop, observer);
  }

  /** The agent's exec: its key on stdin, its output read as it comes; until it exits. */
  private async runAgent({ run, prepared, prompt, actor, observer, stopper }: Job, cfg: ConfigValues, output: RunOutput): Promise<void> {
    const { agent, permission, key, conversation } = prepared;
    const argv = agentArgv(agent, { prompt, permission, ...(conversation ? { session: conversation.session } : {}) });
    const env = [`${SESSION_ENV}=${run.tag}`, ...Object.entries(agent.env).map(([k, v]) => `${k}=${v}`)];
    const cmd = ['/bin/sh', '-c', WRAPPER, 'berth-agent', workdirInHome(cfg['agent.workdir']), ...argv];
    const handle = await execInVm(this.ctx, run.vm, { cmd, stdin: true, env }, actor);
    handle.stream.on('error', () => undefined);
    const baseUrl = cfg['agent.api-base-url'] || agent.defaultBaseUrl;
    handle.stream.end(`${agent.keyEnv}=${key}\n${agent.baseUrlEnv}=${baseUrl}\n\n`);
    stopper.started(handle.stream);
    const lines = new LineSplitter();
    const onLine = this.lineReader(run.login, prepared, observer, output);
    handle.demux(lineSink(lines, onLine), stderrSink(output, key));
    output.exitCode = await handle.exitCode(stopper.hardEnd.signal);
    for (const line of lines.end()) onLine(line);
  }

  /** Each line the agent prints: its session remembered, its answer kept, its events passed on (the key never). */
  private lineReader(login: string, prepared: Prepared, observer: RunObserver, output: RunOutput): (line: string) => void {
    const { agent, vm, key } = prepared;
    const seeSession = (session: string) => {
      if (session === output.session) return;
      output.session = session;
      void this.remember(login, agent.name, vm.name, session);
    };
    return (line) => {
      for (const event of parseAgentLine(agent.stream, line)) {
        if (event.kind === 'session') seeSession(event.session);
        else if (event.kind === 'text') output.answer = event.text.slice(0, ANSWER_LIMIT);
        else if (event.kind === 'result') {
          output.result = event;
          if (event.session) seeSession(event.session);
        }
        observer.event(redactEvent(event, key));
      }
    };
  }

  /** The run's record (audit, metrics, `/agent`) and its answer, to the front-end. */
  private finish(run: ActiveRun, key: string, output: RunOutput, stop: RunStop, observer: RunObserver): AgentRunResult {
    const { result, session } = output;
    const outcome = runOutcome(stop, result, output.exitCode);
    const finalAnswer = (result?.text ?? output.answer).slice(0, ANSWER_LIMIT);
    const record: AgentRunRecord = {
      id: run.id,
      user: run.login,
      vm: run.vm,
      agent: run.agent,
      startedAt: new Date(run.startedAt).toISOString(),
      durationMs: Date.now() - run.startedAt,
      outcome,
      ...(session ? { session } : {}),
      ...(result?.inputTokens !== undefined ? { inputTokens: result.inputTokens } : {}),
      ...(result?.outputTokens !== undefined ? { outputTokens: result.outputTokens } : {}),
      ...(result?.costUsd !== undefined ? { costUsd: result.costUsd } : {}),
    };
    if (outcome === 'error') {
      const why = runFailure(result?.error === true, finalAnswer, output.stderr, output.exitCode);
      record.error = printable(redact(why, key)).slice(0, 500);
    }
    this.lastRun.set(run.login, record);
    if (this.lastRun.size > 10_000) this.lastRun.delete(this.lastRun.keys().next().value as string);
    this.options.audit?.(record);
    const full: AgentRunResult = { ...record, answer: redact(finalAnswer, key) };
    observer.finished(full);
    return full;
  }

  /** SIGINT to the agent; after the grace, SIGKILL to everything carrying the run's tag. */
  private async halt(ref: string, tag: string, actor: Actor, ended: () => boolean): Promise<void> {
    await signalExecSession(this.ctx, ref, tag, 'INT', { actor, deadlineMs: 10_000 }).catch(() => undefined);
    for (let waited = 0; waited < STOP_GRACE_MS && !ended(); waited += 100) await new Promise((r) => setTimeout(r, 100));
    await killTaggedProcesses(this.ctx, ref, tag, actor).catch(() => undefined);
  }

  private async remember(login: string, agent: string, vm: string, session: string): Promise<void> {
    await withDeadline(10_000, 'record the conversation', () =>
      this.ctx.store.transact((state) => {
        const user = state.users.find((u) => u.login === login);
        if (!user || !AGENT_SESSION_PATTERN.test(session)) return;
        const now = new Date().toISOString();
        const same = user.conversation?.session === session;
        user.conversation = {
          agent,
          vm,
          session,
          startedAt: same && user.conversation ? user.conversation.startedAt : now,
          updatedAt: now,
        };
      }),
    ).catch(() => undefined);
  }
}

/** The agent's output, line by line, each read where it comes: a line berth cannot read is skipped, never thrown. */
function lineSink(lines: LineSplitter, onLine: (line: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      // Runs in the exec stream's data listener: whatever the VM's agent printed, a line berth
      // cannot read is skipped there, never thrown out of it (that would end the daemon).
      for (const line of lines.push(chunk.toString('utf8'))) {
        try {
          onLine(line);
        } catch {
          // skipped
        }
      }
      done();
    },
  });
}

/** The agent's stderr: its end kept (for the error a failed run shows), the key never. */
function stderrSink(output: RunOutput, key: string): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      // Redacted before it is cut: a key split by the cut would not be recognised afterwards.
      output.stderr = redact(output.stderr + chunk.toString('utf8'), key).slice(-STDERR_KEEP);
      done();
    },
  });
}

function redact(text: string, key: string): string {
  return key && text.includes(key) ? text.split(key).join('[key]') : text;
}

function redactEvent(event: AgentEvent, key: string): AgentEvent {
  if (event.kind === 'text') return { ...event, text: redact(event.text, key) };
  if (event.kind === 'tool') return { ...event, detail: redact(event.detail, key) };
  if (event.kind === 'result' && event.text !== undefined) return { ...event, text: redact(event.text, key) };
  return event;
}
