import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { StartupRefusal } from '../../src/domain/ssh-admission.js';
import { PreAuthSlots, sourceKey } from '../ssh/rate-limit.js';

/** What the web server's door allows; read at each new connection (the config may change). */
export interface DoorLimits {
  /** Connections from one source (sourceKey) that have not sent their first request yet. */
  perSource: number;
  /** How long a connection has, from its accept, to finish its first request's head (TLS handshake included). */
  graceMs: number;
}

/**
 * All sources together: from `start` such connections on, new ones of sources already holding
 * some are dropped at random (`rate` %, rising to all at `full`), as sshd's MaxStartups does; a
 * source holding none is let in below `full` (see `admission`).
 */
const OVERALL = { start: 256, rate: 30, full: 1024 };
/**
 * A burst of new connections (a reverse proxy on this host opening many at once) is let in up to
 * this many times the per-source share, for SETTLE_MS: a connection that sends its request at once
 * never counts. One still silent after SETTLE_MS keeps its slot only within the share.
 */
const BURST = 8;
const SETTLE_MS = 1000;
/**
 * Open connections one source may hold at once, whatever they are doing (a head sent quickly,
 * then a body one byte a minute, holds a connection for the request's whole deadline): so that
 * a few addresses cannot fill the server's connection table. The host's own loopback address, a
 * reverse proxy on this host (every user behind it), is not held to it.
 */
export const MAX_OPEN_PER_SOURCE = 256;
const LOCAL_PROXY = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The web server's door: connections that have not yet sent their first request (the TLS
 * handshake and the request's head) are counted per source address and overall from the TCP
 * accept, dropped at once past a cap (a source's share, BURST times over for its first second),
 * and cut when their first head has not arrived within the grace time. Silent or slow
 * connections from one address then never lock out another. Past the first request a connection
 * is the HTTP server's (its header, request and keep-alive timeouts).
 */
export function guardConnections(
  server: Server,
  limits: () => DoorLimits,
  refused: (source: string, why: StartupRefusal | 'header-timeout' | 'open-per-source') => void,
): void {
  const slots = new PreAuthSlots();
  /** Open connections per source (sourceKey), for their whole life; only sources with one. */
  const open = new Map<string, number>();
  /** Per source: its connections silent for more than SETTLE_MS (at most perSource each; only sources with one). */
  const settled = new Map<string, number>();
  /** Connections waiting for their first request, by peer address and port (a TLS socket has the same). */
  const waiting = new Map<string, () => void>();
  const peer = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress}|${s.remotePort}`;
  server.on('connection', (socket: Socket) => {
    const source = socket.remoteAddress;
    if (!source) {
      socket.destroy();
      return;
    }
    const group = sourceKey(source);
    if (!LOCAL_PROXY.has(source)) {
      const held = open.get(group) ?? 0;
      if (held >= MAX_OPEN_PER_SOURCE) {
        socket.destroy();
        refused(source, 'open-per-source');
        return;
      }
      open.set(group, held + 1);
      socket.once('close', () => {
        const left = (open.get(group) ?? 1) - 1;
        if (left <= 0) open.delete(group);
        else open.set(group, left);
      });
    }
    const { perSource, graceMs } = limits();
    const release = slots.take(source, { perSource: perSource * BURST, ...OVERALL });
    if (typeof release === 'string') {
      socket.destroy();
      refused(source, release);
      return;
    }
    const key = peer(socket);
    let counted = false;
    let judge: NodeJS.Immediate | undefined;
    const settle = setTimeout(
      () => {
        // Judged after the loop's next I/O: a head already in (a busy daemon reads it late) is not silence.
        judge = setImmediate(() => {
          if (socket.destroyed) return;
          const n = settled.get(group) ?? 0;
          if (n >= perSource) {
            socket.destroy();
            refused(source, 'per-source');
            return;
          }
          settled.set(group, n + 1);
          counted = true;
        });
      },
      Math.min(SETTLE_MS, graceMs),
    );
    const cut = setTimeout(() => {
      socket.destroy();
      refused(source, 'header-timeout');
    }, graceMs);
    const done = () => {
      clearTimeout(settle);
      clearImmediate(judge);
      clearTimeout(cut);
      release();
      if (counted) {
        counted = false;
        const left = (settled.get(group) ?? 1) - 1;
        if (left <= 0) settled.delete(group);
        else settled.set(group, left);
      }
      if (waiting.get(key) === done) waiting.delete(key);
    };
    waiting.set(key, done);
    socket.once('close', done);
  });
  const first = (req: IncomingMessage) => waiting.get(peer(req.socket))?.();
  server.prependListener('request', first);
  server.prependListener('upgrade', first);
}
