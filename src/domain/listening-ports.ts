/** A TCP port something listens on in a VM; `loopbackOnly`: only on 127.0.0.1 / ::1 (the web URL cannot reach it). */
export interface ListeningPort {
  port: number;
  loopbackOnly: boolean;
}

const LISTEN = '0A';
const LOOPBACK4 = /^[0-9A-F]{6}7F$/i;
const LOOPBACK6 = '00000000000000000000000001000000';
const MAPPED_LOOPBACK6 = /^0000000000000000FFFF0000[0-9A-F]{6}7F$/i;

/**
 * The listening TCP ports in the text of /proc/net/tcp and /proc/net/tcp6 (as the kernel writes
 * them: addresses in hex, host byte order), each once, in order; at most `max`.
 */
export function parseListeningPorts(text: string, max = 64): ListeningPort[] {
  const ports = new Map<number, boolean>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== LISTEN) continue;
    const [address = '', portHex = ''] = (fields[1] ?? '').split(':');
    const port = Number.parseInt(portHex, 16);
    if (!Number.isInteger(port) || port < 1 || port > 65535) continue;
    const loopback = LOOPBACK4.test(address) || address.toUpperCase() === LOOPBACK6 || MAPPED_LOOPBACK6.test(address);
    ports.set(port, (ports.get(port) ?? true) && loopback);
  }
  return [...ports]
    .sort((a, b) => a[0] - b[0])
    .slice(0, max)
    .map(([port, loopbackOnly]) => ({ port, loopbackOnly }));
}
