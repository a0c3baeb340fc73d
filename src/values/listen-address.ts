import { invalidInput } from '../errors.js';
import { printable } from './names.js';

/** A DNS name or an IP address (IPv6 in brackets), as a listen address or a public host name holds it. */
export const HOST_PATTERN = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?)$/;

/** `host:port` split at its last colon; the host as written (IPv6 still in brackets). */
function split(text: string): { colon: number; host: string; port: string } {
  const colon = text.lastIndexOf(':');
  return { colon, host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/** `host:port` (IPv6 in brackets) for a TCP listener. */
export function checkListenAddress(input: string): string {
  const text = input.trim();
  const { colon, host, port } = split(text);
  const validPort = /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
  if (colon <= 0 || !HOST_PATTERN.test(host) || !validPort) {
    throw invalidInput(
      'INVALID_ADDRESS',
      `"${printable(text)}" is not a valid listen address.`,
      'Write host:port, for example 0.0.0.0:2222, 127.0.0.1:2222 or [::]:2222.',
    );
  }
  return text;
}

/** A listen address (as checkListenAddress takes it) as `listen()` wants it: the host without brackets, the port a number. */
export function listenParts(address: string): { host: string; port: number } {
  const { host, port } = split(address);
  return { host: host.replace(/^\[|\]$/g, ''), port: Number(port) };
}
