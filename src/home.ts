import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where berth keeps its state: $BERTH_HOME, else the XDG data dir. */
export function berthHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_HOME) return resolve(env.BERTH_HOME);
  const data = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(data, 'berth');
}

export function statePath(home: string): string {
  return join(home, 'state.json');
}
