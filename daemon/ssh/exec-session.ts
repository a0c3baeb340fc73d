import type { Duplex } from 'node:stream';
import type { PseudoTtyInfo, ServerChannel } from 'ssh2';
import { demuxExecStream } from '../../src/docker/exec-stream.js';
import type { ExecHandle } from '../../src/docker/runtime.js';
import { vmRef } from '../../src/domain/lookups.js';
import { recordingNoticeFor, recordModeFor } from '../../src/domain/recording.js';
import { gatewayActor, openGatewayVm } from '../../src/services/access/ssh-access.js';
import { isDeadline, withDeadline } from '../../src/services/engine/deadline.js';
import { type ExitSignal, execInVm, readExitSignal, type SessionSignal, signalExecSession } from '../../src/services/vm/vm-exec.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { LatestWins } from '../latest-wins.js';
import type { SessionRecording } from '../recorder.js';
import { newSession, type Session, type SessionKind } from '../sessions.js';
import { audit } from './audit.js';
import type { ConnectionScope } from './connection-scope.js';
import { openSessionForwarding, type SessionForwarding } from './session-forwarding.js';
import {
  auditOutcome,
  exitOutcome,
  exitReport,
  exitTimeoutNote,
  hangsUp,
  killedNote,
  sessionEnv,
  sessionEol,
  sessionProgram,
  startFailure,
  usableSize,
} from './session-plan.js';
import type { VmListener } from './vm-relay.js';

/** What a session channel asked for before its shell, exec or subsystem. */
export interface SessionRequest {
  kind: SessionKind;
  command: string | undefined;
  /** The pty asked for (none for a subsystem, whatever was asked). */
  pty: PseudoTtyInfo | null;
  /** The client's accepted `env` requests, `NAME=value`. */
  clientEnv: string[];
  forwarding: SessionForwarding;
}

/** How long an ending session waits for its output to reach the client. */
const FLUSH_MS = 3000;

/**
 * Resolves true once what was written has gone out to the client (its window permitting),
 * false when that has not happened within `ms` (a client that reads nothing).
 * Polled: 'drain' fires only after a write was refused, not whenever the buffer empties.
 */
function flushed(w: { writableLength: number; destroyed: boolean; writable: boolean }, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (w.writableLength === 0 || w.destroyed || !w.writable) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, 5);
    };
    check();
  });
}

type Size = { cols: number; rows: number };

/**
 * One shell, exec or sftp subsystem of a session channel, run as a `docker exec` in the user's VM:
 * opened (VM, forwarding, exec, streams), resized and signalled while it runs, ended once (client
 * told, processes hung up, listeners closed, audit written). What it runs and reports is decided in
 * `session-plan.ts`.
 */
export class ExecSession {
  private readonly startedAt = Date.now();
  private readonly session: Session;
  private readonly eol: string;
  private stream: Duplex | null = null;
  private ref = '';
  private finished = false;
  private exitCode: number | null = null;
  private exitSignal: ExitSignal | null = null;
  /** The VM's helper when the command runs under it (see templates/vm-helper.py). */
  private wrapped = false;
  private listeners: VmListener[] = [];
  /** Aborted when the session ends: listeners still starting are closed too. */
  private readonly leaving = new AbortController();
  private size: Size | null;
  private resizeExec: ExecHandle['resize'] | null = null;
  private offClose: () => void = () => undefined;
  /** The session's recording, when its user's sessions are recorded and it has a terminal. */
  private recording: SessionRecording | null = null;
  /** An engine wait of this session passed its deadline: its outcome is `timeout`. */
  private timedOut = false;
  /** The program's output ended: its exit is being read (once). */
  private exiting = false;
  // A client can send window-change and signal requests as fast as it likes: one Docker call
  // of each kind at a time, the latest size and the latest signal kept for the next one.
  private readonly resizes = new LatestWins<Size | null>((size) => {
    const resize = this.resizeExec;
    return resize && usableSize(size) && !this.finished ? resize(size.cols, size.rows) : undefined;
  });
  private readonly signals = new LatestWins<SessionSignal>((name) =>
    this.finished
      ? undefined
      : signalExecSession(this.scope.ctx, this.ref, this.session.id, name, {
          wrapped: this.wrapped,
          actor: gatewayActor(this.scope.identity),
          deadlineMs: this.scope.deadlineMs,
        }),
  );

  /** Starts a session's program on `channel`; `release` frees its slot (once the session ends). */
  static start(scope: ConnectionScope, channel: ServerChannel, request: SessionRequest, release: () => void): ExecSession {
    const session = new ExecSession(scope, channel, request, release);
    void session.open();
    return session;
  }

  private constructor(
    private readonly scope: ConnectionScope,
    private readonly channel: ServerChannel,
    private readonly request: SessionRequest,
    private readonly release: () => void,
  ) {
    this.session = newSession(scope, {
      kind: request.kind,
      ...(request.command === undefined ? {} : { command: request.command.slice(0, 500) }),
      startedAt: this.startedAt,
      kill: (reason) => void this.end('killed', reason),
    });
    this.eol = sessionEol(request.pty);
    this.size = request.pty ? { cols: request.pty.cols, rows: request.pty.rows } : null;
    scope.metrics.active.inc();
    channel.on('error', () => undefined);
    channel.stderr.on('error', () => undefined);
    channel.on('close', () => void this.end('disconnected'));
    this.offClose = scope.onClose(() => void this.end('disconnected'));
  }

  /** The client's new window size, for the pty once the exec runs. */
  resize(cols: number, rows: number): void {
    this.size = { cols, rows };
    this.recording?.resize(cols, rows);
    this.resizes.push(this.size);
  }

  /** A signal for the session's processes (none before its VM is known). */
  signal(name: SessionSignal): void {
    if (!this.ref) return;
    this.signals.push(name);
  }

  /** A line on the session's stderr, while the client can read it. */
  private readonly note = (line: string): void => {
    if (this.channel.writable) this.channel.stderr.write(`${line}${this.eol}`);
  };

  private hangup() {
    return signalExecSession(this.scope.ctx, this.ref, this.session.id, 'HUP', {
      hangup: true,
      wrapped: this.wrapped,
      actor: gatewayActor(this.scope.identity),
      deadlineMs: this.scope.deadlineMs,
    });
  }

  /** The VM opened, the forwarding asked for started, the program launched; a failure ends the session. */
  private async open(): Promise<void> {
    const { scope, request, session } = this;
    try {
      const { vm, helper } = await openGatewayVm(scope.ctx, scope.identity, this.note);
      this.ref = vmRef(vm);
      session.vm = this.ref;
      if (this.finished) return;
      scope.registry.add(session);
      const program = sessionProgram(request.kind, request.command, helper, session.id);
      this.wrapped = program.wrapped;
      const opened = await openSessionForwarding(scope, { ref: this.ref, helper }, request.forwarding, this.note, this.leaving.signal);
      this.listeners = opened.listeners;
      if (this.finished) {
        // The client left while they were being opened: end() has run without them.
        await Promise.all(this.listeners.map((l) => l.close()));
        return;
      }
      await this.record();
      if (this.finished) return;
      await this.launch(program.cmd, sessionEnv(request.clientEnv, request.pty, session.id, opened.env));
    } catch (err) {
      await this.failed(err);
    }
  }

  /**
   * A session with a terminal (a shell, `ssh -t CMD`) is recorded when its user's are: the user is
   * told first, on the session's stderr; then the recorder is given what the relay carries. Without
   * a terminal the audit line (command, exit status) is the record.
   */
  private async record(): Promise<void> {
    const { scope, request, session } = this;
    if (!request.pty || request.kind === 'subsystem') return;
    const state = await scope.ctx.store.snapshot();
    const user = state.users.find((u) => u.id === scope.identity.userId);
    const mode = recordModeFor(state, user);
    if (mode === 'off') return;
    const notice = recordingNoticeFor(state, user);
    if (notice) this.note(notice);
    this.recording = await scope.recorder.start({
      id: session.id,
      login: scope.identity.login,
      userId: scope.identity.userId,
      vm: this.ref,
      via: 'ssh',
      ...(request.kind === 'exec' && request.command !== undefined ? { command: request.command.slice(0, 500) } : {}),
      term: request.pty.term || 'xterm',
      cols: usableSize(this.size) ? this.size.cols : 80,
      rows: usableSize(this.size) ? this.size.rows : 24,
      mode,
      config: effectiveConfig(state.config),
    });
    if (this.recording) session.recording = this.recording.id;
    if (this.finished) await this.recording?.close();
  }

  /** The exec made and started, its streams wired to the channel. */
  private async launch(cmd: string[], env: string[]): Promise<void> {
    const { scope, request } = this;
    const handle = await execInVm(scope.ctx, this.ref, { cmd, tty: request.pty !== null, stdin: true, env }, gatewayActor(scope.identity));
    if (this.finished) {
      // The client left while the exec was being made: it must not run on alone.
      handle.stream.destroy();
      await this.hangup().catch(() => undefined);
      return;
    }
    this.stream = handle.stream;
    this.resizeExec = handle.resize;
    // Docker 20.10 has no console size at exec creation: size it right after the start.
    this.resizes.push(this.size);
    wire(scope, this.session, this.channel, handle.stream, request.pty !== null, this.recording, () => this.exited(handle));
  }

  /** The program's output ended: its exit code (and the signal that ended it) read, the session ended. */
  private async exited(handle: ExecHandle): Promise<void> {
    if (this.exiting || this.finished) return;
    this.exiting = true;
    const { scope } = this;
    // A program that closed its output and lives on (or an engine that does not answer) is
    // not waited for past the deadline: the session ends, what is left of it is hung up.
    this.exitCode = await withDeadline(scope.deadlineMs, 'report the exit code', (abort) => handle.exitCode(abort)).catch((err) => {
      if (isDeadline(err)) this.timedOut = true;
      return null;
    });
    const outcome = exitOutcome(this.exitCode, this.timedOut);
    if (outcome === 'timeout') {
      this.note(exitTimeoutNote(scope.deadlineMs));
      await this.end('timeout');
      return;
    }
    if (this.wrapped && this.exitCode !== null)
      this.exitSignal = await readExitSignal(
        scope.ctx,
        this.ref,
        this.session.id,
        this.exitCode,
        gatewayActor(scope.identity),
        scope.deadlineMs,
      );
    await this.end(outcome);
  }

  /** The session could not start: the client told why (the operator too when it was not a BerthError). */
  private async failed(err: unknown): Promise<void> {
    const failure = startFailure(err, this.eol);
    if (failure.unexpected)
      this.scope.log.error({ id: this.session.id, user: this.scope.identity.login, err: String(err) }, 'ssh session failed');
    this.note(failure.line);
    this.exitCode = 1;
    await this.end(failure.outcome);
  }

  /** The session is over: client told (if still there), processes gone, slot freed, audit written. */
  private async end(outcome: string, reason?: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.offClose();
    this.leaving.abort();
    try {
      const killed = killedNote(outcome, reason);
      if (killed) this.note(killed);
      // Off the list and its slot free at once: what follows can wait on the client.
      this.scope.registry.remove(this.session.id);
      this.release();
      // The client went away or the session was killed: nothing may be left running in the VM.
      if (this.stream && hangsUp(outcome)) await this.stopProgram(this.stream);
      if (this.channel.writable) await this.reportExit();
    } catch (err) {
      this.scope.log.warn({ id: this.session.id, err: String(err) }, 'ssh session did not end cleanly');
    } finally {
      // Whatever happened above: the channel closed, the listeners ended, the session audited.
      await this.close(outcome);
    }
  }

  /** The program's stream cut and its processes in the VM hung up (SIGKILL for what outlives SIGHUP). */
  private async stopProgram(stream: Duplex): Promise<void> {
    stream.destroy();
    await this.hangup().catch((err) => {
      if (isDeadline(err)) this.timedOut = true;
      this.scope.log.warn({ id: this.session.id, err: String(err) }, 'could not end the processes of an ssh session');
    });
  }

  /** exit-status or exit-signal, then EOF, once the queued output has reached the client. */
  private async reportExit(): Promise<void> {
    const { channel } = this;
    // exit-status goes out at once: the output still queued for the client's window first.
    // A client that reads nothing (window at 0) gets FLUSH_MS; the channel is closed anyway.
    const drained = await Promise.all([flushed(channel, FLUSH_MS), flushed(channel.stderr, FLUSH_MS)]);
    if (!drained.every(Boolean)) return;
    const exit = exitReport(this.exitCode, this.exitSignal);
    if (exit && 'signal' in exit) channel.exit(exit.signal, exit.coreDumped, '');
    else if (exit) channel.exit(exit.code);
    channel.end();
  }

  /** The channel closed, the listeners closed within the deadline, the session counted and audited. */
  private async close(outcome: string): Promise<void> {
    const { scope } = this;
    this.channel.close();
    await withDeadline(scope.deadlineMs, 'close the listeners of the session', () =>
      Promise.all(this.listeners.map((l) => l.close())),
    ).catch(() => {
      this.timedOut = true;
    });
    scope.metrics.active.dec();
    await this.recording?.close();
    audit(scope, this.session, auditOutcome(outcome, this.timedOut), this.exitCode, this.startedAt);
  }
}

/** Bytes both ways, with backpressure; stdout and stderr apart without a pty; EOF passed on. */
function wire(
  scope: ConnectionScope,
  session: Session,
  channel: ServerChannel,
  exec: Duplex,
  tty: boolean,
  recording: SessionRecording | null,
  done: () => Promise<void>,
): void {
  channel.on('data', (chunk: Buffer) => {
    session.bytesIn += chunk.length;
    recording?.input(chunk);
    scope.touch();
  });
  // With a pty, the client's EOF is not the program's: a terminal has none.
  channel.pipe(exec, { end: false });
  if (!tty) channel.once('end', () => exec.end());
  exec.on('error', () => undefined);
  const counted = (n: number) => {
    session.bytesOut += n;
    scope.touch();
    scope.batch();
  };
  if (tty) {
    exec.on('data', (chunk: Buffer) => {
      counted(chunk.length);
      recording?.output(chunk);
    });
    exec.pipe(channel, { end: false });
    exec.once('end', () => void done());
    exec.once('close', () => void done());
  } else {
    void demuxExecStream(exec, channel, channel.stderr, counted).then(done);
  }
}
