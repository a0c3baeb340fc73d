import { type Duplex, PassThrough, Writable } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Connection, ServerChannel } from 'ssh2';
import { demuxExecStream, HelperFrames } from '../../src/docker/exec-stream.js';
import { BerthError } from '../../src/errors.js';
import { gatewayActor, VM_PATH } from '../../src/services/access/ssh-access.js';
import { execInVm, SESSION_ENV, signalExecSession } from '../../src/services/vm/vm-exec.js';
import { newSessionId } from '../sessions.js';
import type { ConnectionScope } from './connection-scope.js';

/**
 * Listeners inside a VM for what the client receives (ssh -R, agent and X11 forwarding): the
 * VM's helper (templates/vm-helper.py) listens there; each connection it accepts is picked up
 * by a `connect` exec of its own, bridged to a channel the gateway opens to the client.
 */

/** The VM a listener runs in, and its helper's path. */
export interface RelayTarget {
  ref: string;
  helper: string;
}

export interface RelayConnection {
  id: string;
  host: string;
  port: number;
}

export interface VmListener {
  /** What the helper listens on in the VM: a port, an X display number or a socket path. */
  address: string;
  /** Stops listening; the connections it relays end with it, and so does every process it ran. */
  close(): Promise<void>;
}

export interface ListenerOptions {
  /** A first line for the helper's stdin (X11: the client's cookie, never put in argv). */
  input?: string;
  /** Aborted: the listener is closed (while it starts too). */
  signal?: AbortSignal;
  /** Opens the channel to the client that carries one accepted connection. */
  open(conn: RelayConnection): Promise<Duplex>;
  /** Bytes relayed: `in` from the client, `out` to it. */
  counted?(direction: 'in' | 'out', bytes: number): void;
  /** The helper ended on its own (or the VM stopped). */
  onEnd?(): void;
}

export function noHelper(ref: string, what: string): BerthError {
  return new BerthError(
    'VM_NO_HELPER',
    `${what} is not available in VM ${ref}: its image has no berth helper (templates/vm-helper.py, which needs python3).`,
    'Ask the operator for a VM on the default image (berth image build).',
  );
}

const ERROR_BYTES = 2048;
const READY_MS = 10_000;
/** The helper's lines are short; a longer one means it is not our helper talking. */
const MAX_LINE = 512;
const PORT_OR_DISPLAY = /^\d{1,5}$/;
// Connections relayed per user, all listeners together: each one costs a docker exec.
const relayRate = new RateLimiterMemory({ points: 60, duration: 10 });
/**
 * Connections relayed at once per listener. Each is a docker exec: a program in the VM that
 * connects in a loop gets this many; the helper drops the rest after 30 s.
 */
const MAX_RELAYS = 64;

export async function openVmListener(
  scope: ConnectionScope,
  target: RelayTarget,
  spec: string[],
  options: ListenerOptions,
): Promise<VmListener> {
  const actor = gatewayActor(scope.identity);
  // A tag of its own: closing the listener ends its processes, not those of a session beside it.
  const tag = newSessionId();
  const env = [`${SESSION_ENV}=${tag}`];
  const counted = options.counted ?? (() => undefined);
  const handle = await execInVm(scope.ctx, target.ref, { cmd: [target.helper, 'listen', ...spec], stdin: true, env }, actor);
  handle.stream.on('error', () => undefined);
  if (options.input) handle.stream.write(`${options.input}\n`);
  const out = new PassThrough();
  let errors = '';
  const err = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (errors.length < ERROR_BYTES) errors += chunk.toString('utf8').slice(0, ERROR_BYTES - errors.length);
      done();
    },
  });
  void demuxExecStream(handle.stream, out, err).then(() => out.end());
  let closed = false;
  let ctl = '';
  let relays = 0;
  let warned = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    handle.stream.end();
    // The helper ends at its stdin's end; whatever still runs under this tag is ended for sure.
    await signalExecSession(scope.ctx, target.ref, tag, 'HUP', { hangup: true, actor, deadlineMs: scope.deadlineMs }).catch(
      () => undefined,
    );
    handle.stream.destroy();
  };

  /** One accepted connection: a `connect` exec in the VM bridged to a channel to the client. */
  const bridge = async (id: string, channel: Duplex) => {
    channel.on('error', () => undefined);
    let exec: Duplex;
    try {
      exec = (await execInVm(scope.ctx, target.ref, { cmd: [target.helper, 'connect', ctl, id], stdin: true, env }, actor)).stream;
    } catch (e) {
      scope.log.warn({ vm: target.ref, err: String(e) }, 'ssh relay: could not pick up a connection in the VM');
      channel.destroy();
      return;
    }
    exec.on('error', () => undefined);
    channel.on('data', (chunk: Buffer) => {
      counted('in', chunk.length);
      scope.touch();
    });
    channel.pipe(exec, { end: false });
    channel.once('end', () => exec.end());
    channel.once('close', () => exec.destroy());
    const discard = new Writable({ write: (_c, _e, done) => done() });
    const toClient = deframe(channel, (n) => {
      counted('out', n);
      scope.touch();
      scope.batch();
    });
    await demuxExecStream(exec, toClient, discard);
    channel.end();
  };
  const accepted = (conn: RelayConnection) => {
    if (closed) return;
    const refuse = () => {
      if (!warned) scope.log.warn({ user: scope.identity.login, vm: target.ref }, 'ssh relay: too many connections; some dropped');
      warned = true;
    };
    if (relays >= MAX_RELAYS) return refuse();
    relays++;
    relayRate
      .consume(scope.identity.login)
      .then(() => options.open(conn).then((channel) => bridge(conn.id, channel)), refuse)
      .catch(() => undefined)
      .finally(() => {
        relays--;
      });
  };

  const ready = await new Promise<{ address: string } | { error: string }>((resolve) => {
    let first = true;
    let line = '';
    const timer = setTimeout(() => resolve({ error: 'the helper did not answer in time' }), READY_MS);
    const abort = () => resolve({ error: 'the client left' });
    options.signal?.addEventListener('abort', abort, { once: true });
    const onLine = (text: string) => {
      const [word = '', ...rest] = text.split(' ');
      if (first) {
        first = false;
        clearTimeout(timer);
        const [address = '', path = ''] = rest;
        if (word === 'ready' && rest.length === 2 && (PORT_OR_DISPLAY.test(address) || VM_PATH.test(address)) && VM_PATH.test(path)) {
          ctl = path;
          resolve({ address });
        } else resolve({ error: word === 'error' ? rest.join(' ') : 'the helper answered something else' });
        return;
      }
      const [id = '', host = '', port = ''] = rest;
      if (
        word === 'conn' &&
        rest.length === 3 &&
        /^\d{1,10}$/.test(id) &&
        ipaddr.isValid(host) &&
        /^\d{1,5}$/.test(port) &&
        Number(port) <= 65535
      ) {
        accepted({ id, host, port: Number(port) });
      } else {
        scope.log.warn({ user: scope.identity.login, vm: target.ref }, 'ssh relay: the helper wrote something unexpected; closing it');
        void close();
      }
    };
    out.on('data', (chunk: Buffer) => {
      let text = chunk.toString('utf8');
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        onLine(line + text.slice(0, nl));
        line = '';
        text = text.slice(nl + 1);
      }
      line += text;
      if (line.length > MAX_LINE) {
        line = '';
        onLine('overlong');
      }
    });
    out.once('end', () => {
      clearTimeout(timer);
      if (first) resolve({ error: errors.trim() || 'the helper ended at once' });
      if (!closed) void close();
      options.onEnd?.();
    });
  });
  options.signal?.addEventListener('abort', () => void close(), { once: true });
  if ('error' in ready) {
    await close();
    throw new BerthError('VM_LISTEN_FAILED', `Could not listen in VM ${target.ref}: ${ready.error.slice(0, 200)}`, 'Try another port.');
  }
  return { address: ready.address, close };
}

/**
 * The `connect` side's stdout: frames of a 4-byte length and data, length 0 for the EOF of the
 * connection in the VM (sent on as the channel's EOF, while the client may still send).
 */
function deframe(channel: Duplex, counted: (bytes: number) => void): Writable {
  const frames = new HelperFrames();
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      let open = true;
      for (const part of frames.take(chunk)) {
        if (part === null) {
          (channel as Duplex & { eof?: () => void }).eof?.();
          continue;
        }
        counted(part.length);
        if (!channel.destroyed && !channel.writableEnded) open = channel.write(part);
      }
      if (open) return done();
      // Until the client's window lets more out, or the channel is gone.
      const go = () => {
        channel.off('drain', go);
        channel.off('close', go);
        done();
      };
      channel.on('drain', go);
      channel.on('close', go);
    },
  });
}

// ssh2's own window and packet sizes for the channels it opens.
const WINDOW = 2 * 1024 * 1024;
const PACKET = 32 * 1024;

interface Ssh2Internals {
  _chanMgr?: { add(fn: unknown): number };
  _protocol?: { openssh_authAgent?(chan: number, window: number, packet: number): void };
}

/**
 * Opens an `auth-agent@openssh.com` channel to the client. ssh2's server has the protocol
 * message but no public method for it: this is its `openChannel` for that one type.
 */
export function openAgentChannel(client: Connection): Promise<ServerChannel> {
  const internals = client as unknown as Ssh2Internals;
  return new Promise((resolve, reject) => {
    if (!internals._chanMgr || typeof internals._protocol?.openssh_authAgent !== 'function') {
      reject(new Error('this ssh2 version cannot open agent channels'));
      return;
    }
    const callback = Object.assign((err: Error | undefined, channel: ServerChannel) => (err ? reject(err) : resolve(channel)), {
      type: 'auth-agent@openssh.com',
    });
    const id = internals._chanMgr.add(callback);
    if (id === -1) {
      reject(new Error('no free channels'));
      return;
    }
    internals._protocol.openssh_authAgent(id, WINDOW, PACKET);
  });
}
