import type { Duplex } from 'node:stream';
import type { AcceptConnection, PseudoTtyInfo, RejectConnection, ServerChannel, Session as SshSession } from 'ssh2';
import { demuxExecStream } from '../../src/docker/exec-stream.js';
import { vmRef } from '../../src/domain/lookups.js';
import { parseX11 } from '../../src/domain/ssh-forwarding.js';
import { BerthError } from '../../src/errors.js';
import { gatewayActor, openGatewayVm } from '../../src/services/access/ssh-access.js';
import { isDeadline, withDeadline } from '../../src/services/engine/deadline.js';
import {
  type ExitSignal,
  execInVm,
  readExitSignal,
  SESSION_ENV,
  SESSION_SIGNALS,
  type SessionSignal,
  shellCommand,
  signalExecSession,
  wrapSessionCommand,
} from '../../src/services/vm/vm-exec.js';
import { acceptClientEnv, MAX_CLIENT_ENV } from '../../src/values/ssh-env.js';
import { newSession, type Session, type SessionKind } from '../sessions.js';
import { audit } from './audit.js';
import { type ConnectionScope, isRefusal } from './connection-scope.js';
import { openSessionForwarding, type SessionForwarding } from './session-forwarding.js';
import type { VmListener } from './vm-relay.js';

// sftp-server's place differs between distributions; the first one found runs.
const SFTP_SERVER = [
  'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/ssh/sftp-server; do',
  '  [ -x "$p" ] && exec "$p"',
  'done',
  'echo "berth: this VM has no sftp-server" >&2',
  'exit 127',
].join('\n');

/**
 * A `session` channel: pty, env, window-change and signal requests, then one shell,
 * exec or subsystem bridged to a `docker exec` in the user's own VM as its user.
 */
export function handleSessionChannel(scope: ConnectionScope, accept: AcceptConnection<SshSession>, reject: RejectConnection): void {
  const { identity, config } = scope;
  const slot = scope.reserveSession();
  if (isRefusal(slot)) {
    scope.log.warn({ user: identity.login, source: scope.source, why: slot.text }, 'ssh session refused: too many open sessions');
    scope.metrics.sessions.inc({ kind: 'shell', outcome: 'limit' });
    scope.refuse(reject, slot);
    return;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    slot();
  };
  const ssh = accept();
  let pty: PseudoTtyInfo | null = null;
  const env: string[] = [];
  let running: RunningExec | null = null;
  let started = false;

  ssh.on('pty', (ok, no, info) => {
    if (started) return no?.();
    pty = info;
    ok?.();
  });
  ssh.on('env', (ok, no, info) => {
    const key = String(info.key);
    const value = String(info.val);
    if (!started && env.length < MAX_CLIENT_ENV && acceptClientEnv(key, value, config['ssh.accept-env'])) {
      env.push(`${key}=${value}`);
      ok?.();
    } else no?.();
  });
  ssh.on('window-change', (ok, _no, info) => {
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows });
    running?.resize(info.cols, info.rows);
    ok?.();
  });
  ssh.on('signal', (ok, no, info) => {
    const name = String(info.name).replace(/^SIG/, '') as SessionSignal;
    if (!running || !SESSION_SIGNALS.includes(name)) return no?.();
    running.signal(name);
    ok?.();
  });
  // Agent and X11 forwarding only when the operator turned them on (ssh.allow-agent, ssh.allow-x11).
  const forwarding: SessionForwarding = { agent: false, x11: null };
  const refused = (what: string) => scope.log.info({ user: identity.login, source: scope.source, request: what }, 'ssh request refused');
  ssh.on('auth-agent', (ok, no) => {
    if (started || !config['ssh.allow-agent']) {
      refused('auth-agent');
      return no?.();
    }
    forwarding.agent = true;
    ok?.();
  });
  ssh.on('x11', (ok, no, info) => {
    const x11 = parseX11(info);
    if (started || !config['ssh.allow-x11'] || !x11) {
      refused('x11');
      return no?.();
    }
    forwarding.x11 = x11;
    ok?.();
  });
  // One program per session channel: a second shell/exec/subsystem request is refused.
  const begin = (ok: () => ServerChannel | undefined, no: (() => void) | undefined, kind: SessionKind, command?: string) => {
    if (started) return no?.();
    const channel = ok();
    if (!channel) return;
    started = true;
    running = startExec(scope, channel, kind, command, kind === 'subsystem' ? null : pty, env, forwarding, release);
  };
  ssh.on('shell', (ok, no) => begin(ok, no, 'shell'));
  ssh.on('exec', (ok, no, info) => begin(ok, no, 'exec', String(info.command)));
  ssh.on('subsystem', (ok, no, info) => (info.name === 'sftp' ? begin(ok, no, 'subsystem', 'sftp') : no?.()));
  const offClose = scope.onClose(() => {
    if (!started) release();
  });
  ssh.on('close', () => {
    offClose();
    if (!started) release();
  });
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

interface RunningExec {
  resize(cols: number, rows: number): void;
  signal(name: SessionSignal): void;
}

function startExec(
  scope: ConnectionScope,
  channel: ServerChannel,
  kind: SessionKind,
  command: string | undefined,
  pty: PseudoTtyInfo | null,
  clientEnv: string[],
  forwarding: SessionForwarding,
  release: () => void,
): RunningExec {
  const { ctx, identity, log } = scope;
  const startedAt = Date.now();
  const session = newSession(scope, {
    kind,
    ...(command === undefined ? {} : { command: command.slice(0, 500) }),
    startedAt,
    kill: (reason) => void end('killed', reason),
  });
  const eol = pty ? '\r\n' : '\n';
  const note = (line: string) => {
    if (channel.writable) channel.stderr.write(`${line}${eol}`);
  };
  let stream: Duplex | null = null;
  let ref = '';
  let finished = false;
  let exitCode: number | null = null;
  let exitSignal: ExitSignal | null = null;
  /** The VM's helper when the command runs under it (see templates/vm-helper.py). */
  let wrapped = false;
  let listeners: VmListener[] = [];
  /** Aborted when the session ends: listeners still starting are closed too. */
  const leaving = new AbortController();
  let size = pty ? { cols: pty.cols, rows: pty.rows } : null;
  let resizeExec: ((cols: number, rows: number) => Promise<void>) | null = null;
  scope.metrics.active.inc();

  let offClose: () => void = () => undefined;
  /** An engine wait of this session passed its deadline: its outcome is `timeout`. */
  let timedOut = false;
  const hangup = () =>
    signalExecSession(ctx, ref, session.id, 'HUP', { hangup: true, wrapped, actor: gatewayActor(identity), deadlineMs: scope.deadlineMs });
  /** The session is over: client told (if still there), processes gone, slot freed, audit written. */
  const end = async (outcome: string, reason?: string) => {
    if (finished) return;
    finished = true;
    offClose();
    leaving.abort();
    try {
      if (outcome === 'killed' && reason) note(`berth: ${reason}`);
      // Off the list and its slot free at once: what follows can wait on the client.
      scope.registry.remove(session.id);
      release();
      if (stream && outcome !== 'ok') {
        // The client went away or the session was killed: nothing may be left running in the VM.
        stream.destroy();
        await hangup().catch((err) => {
          if (isDeadline(err)) timedOut = true;
          log.warn({ id: session.id, err: String(err) }, 'could not end the processes of an ssh session');
        });
      }
      if (channel.writable) {
        // exit-status goes out at once: the output still queued for the client's window first.
        // A client that reads nothing (window at 0) gets FLUSH_MS; the channel is closed anyway.
        const drained = await Promise.all([flushed(channel, FLUSH_MS), flushed(channel.stderr, FLUSH_MS)]);
        if (drained.every(Boolean)) {
          if (exitSignal) channel.exit(exitSignal.name, exitSignal.coreDumped, '');
          else if (exitCode !== null) channel.exit(exitCode);
          channel.end();
        }
      }
    } catch (err) {
      log.warn({ id: session.id, err: String(err) }, 'ssh session did not end cleanly');
    } finally {
      // Whatever happened above: the channel closed, the listeners ended, the session audited.
      channel.close();
      await withDeadline(scope.deadlineMs, 'close the listeners of the session', () => Promise.all(listeners.map((l) => l.close()))).catch(
        () => {
          timedOut = true;
        },
      );
      scope.metrics.active.dec();
      audit(scope, session, timedOut ? 'timeout' : outcome, exitCode, startedAt);
    }
  };

  channel.on('error', () => undefined);
  channel.stderr.on('error', () => undefined);
  channel.on('close', () => void end('disconnected'));
  offClose = scope.onClose(() => void end('disconnected'));

  // A client can send window-change and signal requests as fast as it likes: one Docker call
  // of each kind at a time, the latest size and the latest signal kept for the next one.
  let resizing = false;
  let resizePending = false;
  const pushSize = async () => {
    if (resizing) {
      resizePending = true;
      return;
    }
    resizing = true;
    try {
      do {
        resizePending = false;
        const now = size;
        if (resizeExec && now && now.cols > 0 && now.rows > 0 && !finished) await resizeExec(now.cols, now.rows).catch(() => undefined);
      } while (resizePending);
    } finally {
      resizing = false;
    }
  };
  let signalling = false;
  let nextSignal: SessionSignal | null = null;
  const pushSignal = async () => {
    if (signalling) return;
    signalling = true;
    try {
      while (nextSignal && !finished) {
        const name = nextSignal;
        nextSignal = null;
        await signalExecSession(ctx, ref, session.id, name, { wrapped, actor: gatewayActor(identity), deadlineMs: scope.deadlineMs }).catch(
          () => undefined,
        );
      }
    } finally {
      signalling = false;
      nextSignal = null;
    }
  };

  void (async () => {
    try {
      const { vm, helper } = await openGatewayVm(ctx, identity, note);
      ref = vmRef(vm);
      session.vm = ref;
      if (finished) return;
      scope.registry.add(session);
      const program =
        kind === 'shell' ? shellCommand() : kind === 'subsystem' ? ['/bin/sh', '-c', SFTP_SERVER] : ['/bin/sh', '-c', command ?? ''];
      // Under the helper, a command a signal ends is reported as exit-signal, not as 128+n.
      wrapped = helper !== null && kind !== 'subsystem';
      const cmd = wrapped && helper ? wrapSessionCommand(helper, session.id, program) : program;
      // The client's variables first, berth's own last (Docker keeps the last of a name).
      const env = clientEnv.filter((e) => !e.startsWith('TERM='));
      if (pty) env.push(`TERM=${pty.term || clientEnv.find((e) => e.startsWith('TERM='))?.slice(5) || 'xterm'}`);
      env.push(`${SESSION_ENV}=${session.id}`);
      const opened = await openSessionForwarding(scope, { ref, helper }, forwarding, note, leaving.signal);
      listeners = opened.listeners;
      env.push(...opened.env);
      if (finished) {
        // The client left while they were being opened: end() has run without them.
        await Promise.all(listeners.map((l) => l.close()));
        return;
      }
      const handle = await execInVm(ctx, ref, { cmd, tty: pty !== null, stdin: true, env }, gatewayActor(identity));
      if (finished) {
        // The client left while the exec was being made: it must not run on alone.
        handle.stream.destroy();
        await hangup().catch(() => undefined);
        return;
      }
      stream = handle.stream;
      resizeExec = handle.resize;
      // Docker 20.10 has no console size at exec creation: size it right after the start.
      void pushSize();
      let ending = false;
      wire(scope, session, channel, handle.stream, pty !== null, async () => {
        if (ending || finished) return;
        ending = true;
        // A program that closed its output and lives on (or an engine that does not answer) is
        // not waited for past the deadline: the session ends, what is left of it is hung up.
        exitCode = await withDeadline(scope.deadlineMs, 'report the exit code', (abort) => handle.exitCode(abort)).catch((err) => {
          if (isDeadline(err)) timedOut = true;
          return null;
        });
        if (timedOut) {
          note(`berth: the command's exit status did not come within ${Math.ceil(scope.deadlineMs / 1000)} s; the session is ended.`);
          await end('timeout');
          return;
        }
        if (wrapped && exitCode !== null)
          exitSignal = await readExitSignal(ctx, ref, session.id, exitCode, gatewayActor(identity), scope.deadlineMs);
        await end(exitCode === null ? 'error' : 'ok');
      });
    } catch (err) {
      const e = err instanceof BerthError ? err : null;
      if (!e) log.error({ id: session.id, user: identity.login, err: String(err) }, 'ssh session failed');
      note(
        e ? `berth: ${e.message}${eol}${e.hint}` : 'berth: the session could not be started; the operator can see why in the daemon log.',
      );
      exitCode = 1;
      await end(e ? `refused:${e.code}` : 'error');
    }
  })();

  return {
    resize: (cols, rows) => {
      size = { cols, rows };
      void pushSize();
    },
    signal: (name) => {
      if (!ref) return;
      nextSignal = name;
      void pushSignal();
    },
  };
}

/** Bytes both ways, with backpressure; stdout and stderr apart without a pty; EOF passed on. */
function wire(
  scope: ConnectionScope,
  session: Session,
  channel: ServerChannel,
  exec: Duplex,
  tty: boolean,
  done: () => Promise<void>,
): void {
  channel.on('data', (chunk: Buffer) => {
    session.bytesIn += chunk.length;
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
    exec.on('data', (chunk: Buffer) => counted(chunk.length));
    exec.pipe(channel, { end: false });
    exec.once('end', () => void done());
    exec.once('close', () => void done());
  } else {
    void demuxExecStream(exec, channel, channel.stderr, counted).then(done);
  }
}
