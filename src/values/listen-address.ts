import { invalidInput } from '../errors.js';
import { printable } from './names.js';

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?)$/;

/** `host:port` (IPv6 in brackets) for a TCP listener. */
export function checkListenAddress(input: string): string {
  const text = input.trim();
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  const validPort = /^\d{1,5}$/.test(text.slice(colon + 1)) && port >= 1 && port <= 65535;
  if (colon <= 0 || !HOST.test(host) || !validPort) {
    throw invalidInput(
      'INVALID_ADDRESS',
      `"${printable(text)}" is not a valid listen address.`,
      'Write host:port, for example 0.0.0.0:2222, 127.0.0.1:2222 or [::]:2222.',
    );
  }
  return text;
}
