import type { AcceptConnection, RejectConnection, TcpipRequestInfo } from 'ssh2';
import { vmRef } from '../../src/domain/lookups.js';
import { gatewayActor, gatewayForwardTarget, openGatewayVm } from '../../src/services/access/ssh-access.js';
import { dialVm, type VmConnection } from '../../src/services/access/vm-dial.js';
import { newSession } from '../sessions.js';
import { audit } from './audit.js';
import { type ConnectionScope, isRefusal } from './connection-scope.js';

/** Destinations that mean "my VM": ssh -L 8080:localhost:8080 reaches port 8080 of the user's VM. */
const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '::1', 'ip6-localhost']);
/** A port in the VM that does not answer by then is reported unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * `ssh -L` (direct-tcpip): only `localhost:PORT`, mapped to that port of the user's own VM
 * on its berth network. Every other destination (another VM, the host, the internet) is refused.
 */
export function handleDirectTcpip(
  scope: ConnectionScope,
  accept: AcceptConnection,
  reject: RejectConnection,
  info: TcpipRequestInfo,
): void {
  const { identity, log, registry } = scope;
  const port = info.destPort;
  if (!LOCAL_NAMES.has(String(info.destIP).toLowerCase()) || !Number.isInteger(port) || port < 1 || port > 65535) {
    log.warn({ user: identity.login, source: scope.source, dest: `${String(info.destIP).slice(0, 80)}:${port}` }, 'ssh forward refused');
    scope.metrics.sessions.inc({ kind: 'forward', outcome: 'refused' });
    scope.refuse(reject, { reason: 'prohibited', text: 'berth: only localhost:PORT (your own VM) can be reached' });
    return;
  }
  const slot = scope.reserveSession();
  if (isRefusal(slot)) {
    scope.metrics.sessions.inc({ kind: 'forward', outcome: 'limit' });
    scope.refuse(reject, slot);
    return;
  }
  const startedAt = Date.now();
  // The client may leave while the VM starts or the port is dialled: nothing is opened after that.
  let gone = false;
  const offGone = scope.onClose(() => {
    gone = true;
  });
  void (async () => {
    let ref = '';
    let socket: VmConnection;
    try {
      const { vm, helper } = await openGatewayVm(scope.ctx, identity, () => undefined);
      ref = vmRef(vm);
      const target = await gatewayForwardTarget(scope.ctx, identity, ref);
      if (gone) {
        offGone();
        slot();
        scope.metrics.sessions.inc({ kind: 'forward', outcome: 'disconnected' });
        return;
      }
      socket = await dialVm(scope.ctx, target.vm, target.route, port, helper, gatewayActor(identity));
    } catch (err) {
      log.warn({ user: identity.login, err: String(err) }, 'ssh forward refused: the VM is not reachable');
      offGone();
      slot();
      scope.metrics.sessions.inc({ kind: 'forward', outcome: 'refused' });
      scope.refuse(reject, { reason: 'connect-failed', text: `berth: ${(err as Error).message}` });
      return;
    }
    if (gone) {
      socket.destroy();
      offGone();
      slot();
      scope.metrics.sessions.inc({ kind: 'forward', outcome: 'disconnected' });
      return;
    }
    socket.setTimeout(CONNECT_TIMEOUT_MS);
    socket.once('timeout', () => {
      if (!opened) socket.destroy(new Error('connect timed out'));
    });
    let finished = false;
    const session = newSession(scope, { kind: 'forward', vm: ref, command: `localhost:${port}`, startedAt, kill: () => finish('killed') });
    let offClose: () => void = () => undefined;
    const finish = (outcome: string) => {
      if (finished) return;
      finished = true;
      offGone();
      offClose();
      socket.destroy();
      registry.remove(session.id);
      slot();
      if (outcome !== 'unreachable') {
        scope.metrics.active.dec();
        audit(scope, session, outcome, null, startedAt);
      } else scope.metrics.sessions.inc({ kind: 'forward', outcome });
    };
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!opened) {
        finish('unreachable');
        // As sshd: a closed port in the VM reads as the connection refused it was.
        const text =
          err.code === 'ECONNREFUSED'
            ? 'Connection refused'
            : err.code === 'ETIMEDOUT' || /timed out/.test(err.message)
              ? 'Connection timed out'
              : err.message;
        scope.refuse(reject, { reason: 'connect-failed', text });
      } else finish('error');
    });
    let opened = false;
    socket.once('connect', () => {
      if (gone) return finish('unreachable');
      const channel = accept();
      if (!channel) return finish('unreachable');
      opened = true;
      socket.setTimeout(0);
      registry.add(session);
      scope.metrics.active.inc();
      channel.on('error', () => undefined);
      channel.on('data', (chunk: Buffer) => {
        session.bytesIn += chunk.length;
        scope.touch();
      });
      socket.on('data', (chunk: Buffer) => {
        session.bytesOut += chunk.length;
        scope.touch();
        scope.batch();
      });
      channel.pipe(socket);
      socket.pipe(channel);
      channel.once('close', () => finish('ok'));
      socket.once('close', () => {
        channel.end();
        finish('ok');
      });
      session.kill = () => {
        channel.close();
        finish('killed');
      };
      offClose = scope.onClose(() => finish('disconnected'));
    });
  })();
}
