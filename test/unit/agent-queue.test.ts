import { describe, expect, it } from 'vitest';
import {
  type AgentQueue,
  execStarted,
  IDLE_QUEUE,
  nextInQueue,
  type QueueEvent,
  RUN_NOT_STARTED,
  type RunStop,
  runFailure,
  runOutcome,
  stopRequested,
} from '../../src/domain/agent-queue.js';

const idle: AgentQueue<string> = IDLE_QUEUE;
const running: AgentQueue<string> = { busy: true };
const oneWaiting: AgentQueue<string> = { busy: true, waiting: 'second' };

describe("a user's agent queue", () => {
  it.each([
    {
      when: 'a message with nothing running starts a run',
      queue: idle,
      event: { kind: 'message', item: 'hi' },
      after: running,
      step: { kind: 'start', item: 'hi' },
    },
    {
      when: 'a message during a run waits',
      queue: running,
      event: { kind: 'message', item: 'hi' },
      after: { busy: true, waiting: 'hi' },
      step: { kind: 'wait' },
    },
    {
      when: 'a message with one waiting already is refused',
      queue: oneWaiting,
      event: { kind: 'message', item: 'third' },
      after: oneWaiting,
      step: { kind: 'refuse' },
    },
    {
      when: 'the end of a run starts the message waiting',
      queue: oneWaiting,
      event: { kind: 'ended' },
      after: running,
      step: { kind: 'start', item: 'second' },
    },
    {
      when: 'the end of a run with none waiting frees the queue',
      queue: running,
      event: { kind: 'ended' },
      after: idle,
      step: { kind: 'none' },
    },
    {
      when: 'a run refused before it began frees the queue',
      queue: running,
      event: { kind: 'refused' },
      after: idle,
      step: { kind: 'none' },
    },
    {
      when: 'a run refused drops the message that came while it was prepared',
      queue: oneWaiting,
      event: { kind: 'refused' },
      after: idle,
      step: { kind: 'none' },
    },
    {
      when: '/stop stops the run and drops the message waiting',
      queue: oneWaiting,
      event: { kind: 'stop' },
      after: running,
      step: { kind: 'stop-run' },
    },
    {
      when: '/stop during a run stops it (the run still ends by itself)',
      queue: running,
      event: { kind: 'stop' },
      after: running,
      step: { kind: 'stop-run' },
    },
    { when: '/stop with nothing running does nothing', queue: idle, event: { kind: 'stop' }, after: idle, step: { kind: 'none' } },
  ] as Array<{ when: string; queue: AgentQueue<string>; event: QueueEvent<string>; after: AgentQueue<string>; step: unknown }>)(
    '$when',
    ({ queue, event, after, step }) => {
      expect(nextInQueue(queue, event)).toEqual({ queue: after, step });
    },
  );

  it('goes through a conversation: a run, one message waiting, the next refused, then each in turn', () => {
    let queue: AgentQueue<string> = IDLE_QUEUE;
    const steps: string[] = [];
    const events: QueueEvent<string>[] = [
      { kind: 'message', item: 'a' },
      { kind: 'message', item: 'b' },
      { kind: 'message', item: 'c' },
      { kind: 'ended' },
      { kind: 'message', item: 'd' },
      { kind: 'ended' },
      { kind: 'ended' },
      { kind: 'message', item: 'e' },
    ];
    for (const event of events) {
      const next = nextInQueue(queue, event);
      queue = next.queue;
      steps.push(next.step.kind === 'start' ? `start ${next.step.item}` : next.step.kind);
    }
    expect(steps).toEqual(['start a', 'wait', 'refuse', 'start b', 'wait', 'start d', 'none', 'start e']);
    expect(queue).toEqual({ busy: true });
  });
});

describe("a run's stopping", () => {
  const runningAgent: RunStop = { reason: null, execStarted: true, halting: false };
  it.each([
    {
      when: 'a stop before the agent runs is remembered, no halt yet',
      run: RUN_NOT_STARTED,
      reason: 'stopped',
      after: { reason: 'stopped', execStarted: false, halting: false },
      halt: false,
    },
    {
      when: 'a stop while the agent runs halts it',
      run: runningAgent,
      reason: 'timeout',
      after: { reason: 'timeout', execStarted: true, halting: true },
      halt: true,
    },
    {
      when: 'a second stop neither halts again nor changes the reason',
      run: { reason: 'timeout', execStarted: true, halting: true },
      reason: 'stopped',
      after: { reason: 'timeout', execStarted: true, halting: true },
      halt: false,
    },
    {
      when: 'the first reason counts before the agent runs too',
      run: { reason: 'stopped', execStarted: false, halting: false },
      reason: 'timeout',
      after: { reason: 'stopped', execStarted: false, halting: false },
      halt: false,
    },
  ] as Array<{ when: string; run: RunStop; reason: 'stopped' | 'timeout'; after: RunStop; halt: boolean }>)(
    '$when',
    ({ run, reason, after, halt }) => {
      expect(stopRequested(run, reason)).toEqual({ run: after, halt });
    },
  );

  it.each([
    { when: 'no stop came: the agent runs on', run: RUN_NOT_STARTED, after: runningAgent, halt: false },
    {
      when: 'a stop came meanwhile: halted as soon as it runs',
      run: { reason: 'stopped', execStarted: false, halting: false },
      after: { reason: 'stopped', execStarted: true, halting: true },
      halt: true,
    },
  ] as Array<{ when: string; run: RunStop; after: RunStop; halt: boolean }>)('when the agent starts, $when', ({ run, after, halt }) => {
    expect(execStarted(run)).toEqual({ run: after, halt });
  });
});

describe("a run's outcome", () => {
  const ok = { error: false };
  it.each([
    { when: 'a result without error, exit 0', stop: null, result: ok, exitCode: 0, outcome: 'done' },
    { when: 'a result without error, exit 1', stop: null, result: ok, exitCode: 1, outcome: 'error' },
    { when: 'a result with an error', stop: null, result: { error: true }, exitCode: 0, outcome: 'error' },
    { when: 'no result', stop: null, result: undefined, exitCode: 0, outcome: 'error' },
    { when: 'stopped, whatever it said', stop: 'stopped', result: ok, exitCode: 0, outcome: 'stopped' },
    { when: 'timed out, whatever it said', stop: 'timeout', result: undefined, exitCode: -1, outcome: 'timeout' },
  ] as Array<{
    when: string;
    stop: 'stopped' | 'timeout' | null;
    result: { error: boolean } | undefined;
    exitCode: number;
    outcome: string;
  }>)('$when → $outcome', ({ stop, result, exitCode, outcome }) => {
    expect(runOutcome({ reason: stop, execStarted: true, halting: stop !== null }, result, exitCode)).toBe(outcome);
  });

  it.each([
    { when: 'the agent reported the error: its answer', reported: true, stderr: 'noise', exitCode: 1, why: 'Invalid API key' },
    { when: 'else the last three lines of stderr, in one', reported: false, stderr: 'a\nb\nc\nd\n', exitCode: 1, why: 'b c d' },
    { when: 'else the exit code', reported: false, stderr: '  \n', exitCode: 127, why: 'exit code 127' },
  ])('says why it failed: $when', ({ reported, stderr, exitCode, why }) => {
    expect(runFailure(reported, 'Invalid API key', stderr, exitCode)).toBe(why);
  });
});
