import { expect } from 'vitest';
import { VmViewSchema } from '../../src/views/vm-view.js';
import { MINIMAL_IMAGE } from './docker.js';
import type { NsRun } from './netns-engine.js';
import type { SwarmCluster } from './swarm-cluster.js';

/**
 * The built berth CLI on a test Swarm's manager (in its namespace, its engine as DOCKER_HOST),
 * for one berth home. Getters: the suites make the cluster and the home in beforeAll.
 */
export function swarmBerth(cluster: () => SwarmCluster, home: () => string) {
  const b = (args: string[], env?: Record<string, string>): Promise<NsRun> => cluster().manager.berth(home(), args, env);
  /** Fails the test with the CLI's stderr unless it exits 0; its stdout. */
  const ok = async (args: string[], env?: Record<string, string>): Promise<string> => {
    const r = await b(args, env);
    expect(r.code, `berth ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(await ok([...args, '--json'])) as T;
  return {
    b,
    ok,
    json,
    vms: async () => VmViewSchema.array().parse(await json(['vm', 'list', '--all'])),
    /** The BerthError of a failed `--json` run (its last stderr line). */
    errorOf: (r: NsRun) =>
      (JSON.parse(r.stderr.trim().split('\n').pop() ?? '{}') as { error?: { code?: string; message?: string; hint?: string } }).error ?? {},
    /** `berth init`, then what every Swarm test home has (engine swarm, the minimal image, no home quota or rootfs limit), then `extra`. */
    init: async (extra: Array<[string, string]> = []) => {
      await ok(['init']);
      for (const [k, v] of [['image', MINIMAL_IMAGE], ['engine', 'swarm'], ['disk', '0'], ['rootfs', '0'], ...extra] as Array<
        [string, string]
      >)
        await ok(['config', 'set', k, v]);
    },
  };
}
