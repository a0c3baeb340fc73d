import type { RejectConnection, TcpipBindInfo } from 'ssh2';
import { vmRef } from '../../src/domain/lookups.js';
import { remoteForwardPortAllowed } from '../../src/domain/ssh-forwarding.js';
import { openGatewayVm } from '../../src/services/access/ssh-access.js';
import { newSession } from '../sessions.js';
import { audit } from './audit.js';
import { type ConnectionScope, isRefusal } from './connection-scope.js';
import { noHelper, openVmListener, type VmListener } from './vm-relay.js';

interface Forward {
  end(outcome: string): void;
}

/**
 * `ssh -R` (tcpip-forward), when `ssh.allow-remote-forward` is on: the helper in the user's
 * VM listens on the VM's 127.0.0.1:PORT (whatever address was asked for, as sshd does with
 * GatewayPorts no); each connection there reaches the client through a forwarded-tcpip
 * channel. Each forward is a session (listed, counted, killable, audited).
 */
export class RemoteForwards {
  private readonly forwards = new Map<string, Forward>();

  constructor(private readonly scope: ConnectionScope) {
    scope.onClose(() => {
      for (const forward of [...this.forwards.values()]) forward.end('disconnected');
    });
  }

  handle(accept: ((port?: number) => void) | undefined, reject: RejectConnection | undefined, name: string, info: TcpipBindInfo): void {
    const { log, identity, source } = this.scope;
    if (name === 'cancel-tcpip-forward') {
      const forward = this.forwards.get(forwardKey(info.bindAddr, info.bindPort));
      if (forward) {
        forward.end('ok');
        accept?.();
      } else reject?.();
      return;
    }
    if (!this.scope.config['ssh.allow-remote-forward'] || !remoteForwardPortAllowed(info.bindPort)) {
      log.info(
        { source, user: identity.login, request: `${name} ${String(info.bindAddr).slice(0, 80)}:${info.bindPort}` },
        'ssh remote forward refused',
      );
      this.scope.metrics.sessions.inc({ kind: 'remote-forward', outcome: 'refused' });
      reject?.();
      return;
    }
    void this.open(info, accept, reject);
  }

  private async open(
    info: TcpipBindInfo,
    accept: ((port?: number) => void) | undefined,
    reject: RejectConnection | undefined,
  ): Promise<void> {
    const { scope } = this;
    const { identity, registry, log } = scope;
    const slot = scope.reserveSession();
    if (isRefusal(slot)) {
      scope.metrics.sessions.inc({ kind: 'remote-forward', outcome: 'limit' });
      reject?.();
      return;
    }
    let gone = false;
    const leaving = new AbortController();
    const offGone = scope.onClose(() => {
      gone = true;
      leaving.abort();
    });
    const startedAt = Date.now();
    const session = newSession(scope, { kind: 'remote-forward', startedAt, kill: () => end('killed') });
    const counted = (direction: 'in' | 'out', n: number) => {
      if (direction === 'in') session.bytesIn += n;
      else session.bytesOut += n;
    };
    let listener: VmListener | null = null;
    let boundPort = 0;
    let opened = false;
    let ended = false;
    const key = () => forwardKey(info.bindAddr, boundPort);
    const end = (outcome: string) => {
      if (ended) return;
      ended = true;
      offGone();
      slot();
      void listener?.close();
      if (!opened) return;
      this.forwards.delete(key());
      registry.remove(session.id);
      scope.metrics.active.dec();
      audit(scope, session, outcome, null, startedAt);
    };
    try {
      const { vm, helper } = await openGatewayVm(scope.ctx, identity, () => undefined);
      session.vm = vmRef(vm);
      if (!helper) throw noHelper(session.vm, 'Remote forwarding (ssh -R)');
      listener = await openVmListener(scope, { ref: session.vm, helper }, ['tcp', String(info.bindPort)], {
        open: (conn) =>
          new Promise((resolve, reject) =>
            scope.client.forwardOut(String(info.bindAddr), boundPort, conn.host, conn.port, (err, channel) =>
              err ? reject(err) : resolve(channel),
            ),
          ),
        counted,
        signal: leaving.signal,
        onEnd: () => end('ended'),
      });
    } catch (err) {
      log.warn({ user: identity.login, err: String(err) }, 'ssh remote forward refused');
      end('refused');
      scope.metrics.sessions.inc({ kind: 'remote-forward', outcome: 'refused' });
      reject?.();
      return;
    }
    if (gone || ended) {
      end('disconnected');
      reject?.();
      return;
    }
    boundPort = Number(listener.address);
    session.command = `127.0.0.1:${boundPort}`;
    opened = true;
    this.forwards.set(key(), { end });
    registry.add(session);
    scope.metrics.active.inc();
    accept?.(info.bindPort === 0 ? boundPort : undefined);
  }
}

const forwardKey = (address: string, port: number) => `${address}:${port}`;
