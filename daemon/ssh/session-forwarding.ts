import type { ServerChannel } from 'ssh2';
import type { X11Request } from '../../src/domain/ssh-forwarding.js';
import { BerthError } from '../../src/errors.js';
import type { ConnectionScope } from './connection-scope.js';
import { noHelper, openAgentChannel, openVmListener, type RelayTarget, type VmListener } from './vm-relay.js';

/** What a session asked for before its shell or command: agent and X11 forwarding. */
export interface SessionForwarding {
  agent: boolean;
  x11: X11Request | null;
}

export interface OpenedForwarding {
  /** Variables for the session's command: SSH_AUTH_SOCK, DISPLAY. */
  env: string[];
  listeners: VmListener[];
}

/**
 * Starts the listeners a session asked for in its VM, before its command: one on a unix
 * socket for the agent (SSH_AUTH_SOCK), one on the first free X display for X11 (DISPLAY).
 * Each connection to them opens a channel to the client. What cannot be had is said on
 * the session's stderr; the session goes on without it.
 */
export async function openSessionForwarding(
  scope: ConnectionScope,
  vm: { ref: string; helper: string | null },
  request: SessionForwarding,
  note: (line: string) => void,
  signal: AbortSignal,
): Promise<OpenedForwarding> {
  const opened: OpenedForwarding = { env: [], listeners: [] };
  if (!request.agent && !request.x11) return opened;
  if (!vm.helper) {
    const err = noHelper(
      vm.ref,
      request.agent && request.x11 ? 'Agent and X11 forwarding' : request.agent ? 'Agent forwarding' : 'X11 forwarding',
    );
    note(`berth: ${err.message}`);
    return opened;
  }
  const target: RelayTarget = { ref: vm.ref, helper: vm.helper };
  const start = async (
    what: string,
    spec: string[],
    open: (conn: { host: string; port: number }) => Promise<ServerChannel>,
    input?: string,
  ) => {
    try {
      const listener = await openVmListener(scope, target, spec, { open, signal, ...(input ? { input } : {}) });
      opened.listeners.push(listener);
      return listener;
    } catch (err) {
      scope.log.warn({ user: scope.identity.login, vm: vm.ref, err: String(err) }, `ssh ${what} forwarding failed`);
      note(`berth: ${what} forwarding is not available: ${err instanceof BerthError ? err.message : 'see the daemon log'}`);
      return undefined;
    }
  };
  if (request.agent) {
    const agent = await start('agent', ['agent'], () => openAgentChannel(scope.client));
    if (agent) opened.env.push(`SSH_AUTH_SOCK=${agent.address}`);
  }
  const x11 = request.x11;
  if (x11) {
    // A single-connection request is served like any other: the display stays for the session.
    const display = await start(
      'X11',
      ['x11', String(x11.screen)],
      (conn) =>
        new Promise((resolve, reject) => scope.client.x11(conn.host, conn.port, (err, channel) => (err ? reject(err) : resolve(channel)))),
      `${x11.protocol} ${x11.cookie}`,
    );
    if (display) opened.env.push(`DISPLAY=localhost:${display.address}.${x11.screen}`);
  }
  return opened;
}
