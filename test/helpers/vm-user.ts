import { berth, berthJson } from './cli.js';
import { waitFor } from './daemon.js';
import { unique } from './docker.js';

/** An allowed user (a unique login from `prefix`) with a VM of `image`, once the VM is ready. */
export async function newVmUser(home: string, prefix: string, image: string): Promise<string> {
  const login = unique(prefix);
  const allowed = await berth(home, ['user', 'allow', login]);
  if (allowed.code !== 0) throw new Error(`berth user allow ${login}: ${allowed.stderr}`);
  await berthJson(home, ['vm', 'create', login, '--image', image]);
  await waitFor(
    `${login}'s VM to be ready`,
    async () => (await berth(home, ['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
    30_000,
  );
  return login;
}
