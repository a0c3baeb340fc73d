import type { AcceptConnection, PseudoTtyInfo, RejectConnection, ServerChannel, Session as SshSession } from 'ssh2';
import { parseX11 } from '../../src/domain/ssh-forwarding.js';
import { acceptClientEnv, MAX_CLIENT_ENV } from '../../src/values/ssh-env.js';
import type { SessionKind } from '../sessions.js';
import { type ConnectionScope, isRefusal } from './connection-scope.js';
import { ExecSession } from './exec-session.js';
import type { SessionForwarding } from './session-forwarding.js';
import { sessionSignal } from './session-plan.js';

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
  let running: ExecSession | null = null;
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
    const name = sessionSignal(String(info.name));
    if (!running || !name) return no?.();
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
    running = ExecSession.start(
      scope,
      channel,
      { kind, command, pty: kind === 'subsystem' ? null : pty, clientEnv: env, forwarding },
      release,
    );
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
