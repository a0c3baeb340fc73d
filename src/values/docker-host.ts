import { invalidInput } from '../errors.js';
import { printable } from './names.js';

const HOST = /^(unix:\/\/\/[\w./-]+|tcp:\/\/[\w.-]+:\d{1,5}|ssh:\/\/(?:[\w.-]+@)?[\w.-]+(?::\d{1,5})?)$/;

/** `unix:///var/run/docker.sock`, `tcp://host:2375` or `ssh://user@host[:port]`; empty for the default. */
export function checkDockerHost(input: string): string {
  const text = input.trim();
  if (text !== '' && !HOST.test(text)) {
    throw invalidInput(
      'INVALID_DOCKER_HOST',
      `"${printable(text)}" is not a Docker host address.`,
      'Use unix:///var/run/docker.sock, tcp://HOST:2375 or ssh://USER@HOST.',
    );
  }
  return text;
}

export function checkNetworkName(input: string): string {
  const text = input.trim();
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(text)) {
    throw invalidInput(
      'INVALID_NETWORK',
      `"${printable(text)}" is not a valid network name.`,
      'Use letters, digits, ".", "_" or "-", e.g. berth-vms.',
    );
  }
  return text;
}
