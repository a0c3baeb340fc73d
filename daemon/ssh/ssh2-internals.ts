import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';
import type { Refusal } from './connection-scope.js';

/*
 * Where a gateway connection reaches into ssh2's private objects, kept here so they are found
 * (and checked) in one file when ssh2 is upgraded. ssh2's public API cannot:
 * - send SSH_MSG_DISCONNECT with a description (OpenSSH prints it: why a user was cut);
 * - set the pre-login banner per connection (it takes one per server), nor hold the auth
 *   service's acceptance until that banner is known;
 * - say why a channel open was refused (its reject() sends no reason of ours and no text);
 * - hand over the raw socket (to batch a tick's packets into one write).
 * Each one looks for the internals first and does nothing (or says false) when they moved.
 * `packet-floor.ts` does the same for channel packet sizes (a connection is not served without
 * it), and `vm-relay.ts` to open agent channels.
 */

interface ProtocolInternals {
  _packetRW?: {
    write: { allocStartKEX: number; alloc(n: number, force?: boolean): Buffer; finalize(p: Buffer, force?: boolean): Buffer };
  };
  _banner?: string;
  serviceAccept?(svc: string): void;
  channelOpenFail?(remote: number, reason: number, description?: string): void;
}

const protocolOf = (client: Connection) => (client as unknown as { _protocol?: ProtocolInternals })._protocol;

/** The connection's TCP socket. */
export function socketOf(client: Connection): Socket | undefined {
  return (client as unknown as { _sock?: Socket })._sock;
}

// SSH_MSG_DISCONNECT and its reason "too many connections" (RFC 4253, 11.1 and 4250, 4.2.2).
const MSG_DISCONNECT = 1;
export const DISCONNECT_TOO_MANY_CONNECTIONS = 12;

/**
 * Sends SSH_MSG_DISCONNECT with a description, which OpenSSH prints ("Received disconnect …:
 * 12: text"); ssh2's own disconnect() sends none. False when this ssh2 cannot.
 */
export function disconnectWith(client: Connection, reason: number, description: string): boolean {
  const proto = protocolOf(client);
  const rw = proto?._packetRW?.write;
  let sendPacket: ((p: unknown, packet: Buffer, bypass?: boolean) => void) | undefined;
  try {
    sendPacket = (createRequire(import.meta.url)('ssh2/lib/protocol/utils.js') as { sendPacket?: typeof sendPacket }).sendPacket;
  } catch {
    sendPacket = undefined;
  }
  if (!proto || !rw || typeof sendPacket !== 'function') return false;
  const text = Buffer.from(description.slice(0, 400), 'utf8');
  const p = rw.allocStartKEX;
  const packet = rw.alloc(1 + 4 + 4 + text.length + 4, true);
  packet[p] = MSG_DISCONNECT;
  packet.writeUInt32BE(reason, p + 1);
  packet.writeUInt32BE(text.length, p + 5);
  text.copy(packet, p + 9);
  packet.writeUInt32BE(0, p + 9 + text.length);
  sendPacket(proto, rw.finalize(packet, true), true);
  return true;
}

/** Sets the banner sent with this connection's auth service acceptance (none: undefined). */
export function setBanner(client: Connection, banner: string | undefined): void {
  const proto = protocolOf(client);
  if (proto) proto._banner = banner;
}

/**
 * The banner goes out with the auth service's acceptance: a client quicker than the gateway's
 * state read has that acceptance wait for `ready`, at most `maxWaitMs`; nothing is sent once the
 * connection is `closed()`.
 */
export function holdAuthService(client: Connection, ready: Promise<unknown>, maxWaitMs: number, closed: () => boolean): void {
  const proto = protocolOf(client);
  const accept = proto?.serviceAccept;
  if (!proto || !accept) return;
  proto.serviceAccept = (svc: string) => {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((done) => {
      timer = setTimeout(done, maxWaitMs);
    });
    void Promise.race([ready, waited]).then(() => {
      clearTimeout(timer);
      if (!closed()) accept.call(proto, svc);
    });
  };
}

/** RFC 4254's channel open failure reasons. */
const OPEN_FAILURE: Record<Refusal['reason'], number> = { prohibited: 1, 'connect-failed': 2, 'resource-shortage': 4 };

/**
 * Channels refused say why (the open failure's reason and text), as OpenSSH's sshd does: ssh2's
 * reject() sends no text, so the failure it writes is given the one set just before. Returns the
 * way to refuse with a reason (a plain reject() when this ssh2 cannot).
 */
export function explainChannelRefusals(client: Connection): (reject: () => void, refusal: Refusal) => void {
  const proto = protocolOf(client);
  let why: Refusal | null = null;
  if (proto && typeof proto.channelOpenFail === 'function') {
    const fail = proto.channelOpenFail.bind(proto);
    proto.channelOpenFail = (remote, reason, description) => {
      const given = why;
      why = null;
      fail(remote, given ? OPEN_FAILURE[given.reason] : reason, given?.text ?? description);
    };
  }
  return (reject, refusal) => {
    why = refusal;
    reject();
    why = null;
  };
}
