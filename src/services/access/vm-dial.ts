import { connect } from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { demuxExecStream, HelperFrames } from '../../docker/exec-stream.js';
import type { Actor } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import { BerthError } from '../../errors.js';
import type { State, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import type { Berth } from '../core/context.js';
import { withDeadline } from '../engine/deadline.js';
import { NODE_DEADLINE_MS } from '../engine/engines.js';
import { execInVm } from '../vm/vm-exec.js';

/** How a port in a VM is reached from here. */
export type VmRoute = { via: 'address'; address: string } | { via: 'exec' };

/**
 * Whether the VM's container is on this host's engine (its address on berth's bridge answers
 * from here) or on another Swarm node (no route reaches that node's bridge from here: the
 * connection is relayed by a process in the VM, over the node's Docker API).
 */
export async function vmRoute(ctx: Berth, state: State, vm: Vm): Promise<VmRoute | null> {
  if (!vm.containerId || vm.phase !== 'ready') return null;
  if (!(await (await ctx.backend()).isHere(vm))) return { via: 'exec' };
  const address = await (await ctx.runtime()).containerAddress(vm.containerId, effectiveConfig(state.config)['docker.network']);
  return address ? { via: 'address', address } : null;
}

/** A socket-like stream: `connect` when open, `connecting` until then (what net.Socket users look at). */
export type VmConnection = Duplex & {
  connecting: boolean;
  setTimeout(ms: number, cb?: () => void): VmConnection;
  setNoDelay(): VmConnection;
  setKeepAlive(): VmConnection;
};

/**
 * Opens a TCP connection to `port` in a VM: straight to its address when it is on this host's
 * engine, else through an exec in the VM (as its user) that relays to 127.0.0.1:PORT: the VM
 * helper's `dial` (framed, so each side can end its half alone), or busybox/OpenBSD `nc` in an
 * image without the helper. The exec ends with the connection.
 */
export async function dialVm(ctx: Berth, vm: Vm, route: VmRoute, port: number, helper: string | null, actor: Actor): Promise<VmConnection> {
  if (route.via === 'address') return connect({ host: route.address, port }) as unknown as VmConnection;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new BerthError('INVALID_PORT', `${port} is not a TCP port.`, 'Use 1-65535.');
  const cmd = helper ? [helper, 'dial', String(port)] : ['nc', '127.0.0.1', String(port)];
  const handle = await withDeadline(NODE_DEADLINE_MS * 2, `open a connection to port ${port} in VM ${vmRef(vm)}`, () =>
    execInVm(ctx, vmRef(vm), { cmd, tty: false, stdin: true, env: [] }, actor),
  );
  return execConnection(handle.stream as Duplex, { framed: Boolean(helper), halfClose: Boolean(helper) });
}

/**
 * A connection relayed by a process in a container, over its exec stream: what the process
 * prints is what the far end sent (framed by the VM helper, or raw), what is written goes to its
 * stdin. `halfClose`: the process shuts its half of the connection on stdin's EOF (so stdin may
 * end alone); without it stdin stays open until the connection ends.
 */
export function execConnection(stream: Duplex, options: { framed: boolean; halfClose: boolean }): VmConnection {
  // As net.Socket's: 'timeout' after that long without a byte either way (0: never).
  let idleMs = 0;
  let timer: NodeJS.Timeout | undefined;
  const rearm = () => {
    if (timer) clearTimeout(timer);
    timer = idleMs > 0 ? setTimeout(() => conn.emit('timeout'), idleMs).unref() : undefined;
  };
  // What the VM sends goes on as the reader takes it: the exec stream is paused meanwhile.
  let resumeWriter: (() => void) | null = null;
  const conn = new Duplex({
    write(chunk, _enc, done) {
      rearm();
      stream.write(chunk, done);
    },
    final(done) {
      // The helper shuts its half of the connection on stdin's EOF; nc would end it all, so not there.
      if (options.halfClose) stream.end();
      done();
    },
    read() {
      const resume = resumeWriter;
      resumeWriter = null;
      resume?.();
    },
    destroy(err, done) {
      stream.destroy();
      done(err);
    },
  }) as VmConnection;
  const frames = options.framed ? new HelperFrames() : null;
  let ended = false;
  const end = () => {
    if (!ended) conn.push(null);
    ended = true;
  };
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      let open = true;
      rearm();
      for (const part of frames ? frames.take(chunk) : [chunk]) {
        if (ended) break;
        if (part === null) end();
        else open = conn.push(part) && open;
      }
      if (open || ended) done();
      else resumeWriter = done;
    },
    final(done) {
      end();
      done();
    },
  });
  // All the VM sent is in: the connection's read side ends (the helper's empty frame may have ended it first).
  void demuxExecStream(stream, sink, new Writable({ write: (_c, _e, done) => done() })).then(end);
  conn.connecting = true;
  conn.setTimeout = (ms, cb) => {
    idleMs = ms;
    if (cb) conn.once('timeout', cb);
    rearm();
    return conn;
  };
  conn.setNoDelay = () => conn;
  conn.setKeepAlive = () => conn;
  stream.once('close', () => {
    if (timer) clearTimeout(timer);
    // Whatever the VM sent is read first; then the connection is over (its write side too).
    if (conn.readableEnded) conn.destroy();
    else conn.once('end', () => conn.destroy());
  });
  stream.on('error', (err: Error) => conn.destroy(err));
  setImmediate(() => {
    conn.connecting = false;
    conn.emit('connect');
  });
  return conn;
}
