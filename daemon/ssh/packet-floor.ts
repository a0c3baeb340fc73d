import type { Connection } from 'ssh2';

/**
 * The smallest maximum packet size a client may give a channel. ssh2 takes the client's value as
 * it is, and a channel with 0 makes its writes loop for ever (each packet carries 0 bytes of what
 * is left), freezing the whole daemon at the first byte sent on it. OpenSSH's clients ask for
 * 32 KiB; nothing real asks for less than this.
 */
export const MIN_PACKET_SIZE = 512;

interface ChannelInfo {
  packetSize: number;
}
type Handler = (proto: unknown, info: ChannelInfo, ...rest: unknown[]) => unknown;
interface ProtocolHandlers {
  _handlers?: Record<string, Handler | undefined>;
}

/**
 * Raises every channel's maximum packet size the client gives (opening a channel, or confirming
 * one berth opened: x11, agent, forwarded ports) to at least MIN_PACKET_SIZE, in the connection's
 * own message handlers. A client that gave less then gets packets it said it could not take: a
 * client's own problem, never the daemon's. Returns false when this ssh2 has no such handlers.
 */
export function floorPacketSizes(client: Connection): boolean {
  const handlers = (client as unknown as { _protocol?: ProtocolHandlers })._protocol?._handlers;
  if (!handlers) return false;
  let patched = 0;
  for (const name of ['CHANNEL_OPEN', 'CHANNEL_OPEN_CONFIRMATION']) {
    const original = handlers[name];
    if (typeof original !== 'function') continue;
    handlers[name] = (proto, info, ...rest) => {
      if (info && typeof info === 'object' && !(info.packetSize >= MIN_PACKET_SIZE)) info.packetSize = MIN_PACKET_SIZE;
      return original(proto, info, ...rest);
    };
    patched++;
  }
  return patched === 2;
}
