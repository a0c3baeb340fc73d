import { hostname } from 'node:os';
import { effectiveConfig } from '../../src/domain/config-keys.js';
import type { State } from '../../src/state/schema.js';

/** The ssh command line that reaches `login`'s VM through the gateway. */
export function sshLine(state: State, login: string, vm?: string): string {
  const listen = effectiveConfig(state.config)['ssh.listen'];
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  return `ssh -p ${port} ${login}${vm ? `+${vm}` : ''}@${hostname()}`;
}
