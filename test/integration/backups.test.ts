import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/daemon.js';
import { docker, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';

// Backups of homes with the host's restic, end to end on one engine: a repository made by
// berth backup init, snapshots of a running VM's home, restores in place and into a new home.

let h: VmHome;
let alice: string;

const run = (args: string[]) => berth(h.home, args);
const must = async (args: string[]) => {
  const r = await run(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
/** A shell command in the user's VM, as the user. */
const inVm = (login: string, script: string) => run(['vm', 'exec', login, '--', 'sh', '-c', script]);

interface Snapshot {
  id: string;
  longId: string;
  home: string;
  user: string | null;
  reason: string;
}
const snapshots = async (ref: string) => (await berthJson<{ snapshots: Snapshot[] }>(h.home, ['home', 'backups', ref])).snapshots;

/** Every file under a folder, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

beforeAll(async () => {
  h = await vmHome();
  await must(['plan', 'add', 'saved', '--disk', '64m', '--backup', 'daily', '--keep', '3l']);
  alice = unique('ba');
  await must(['user', 'allow', alice, '--plan', 'saved']);
  await berthJson(h.home, ['vm', 'create', alice]);
  await waitFor(`${alice}'s VM to be ready`, async () => (await inVm(alice, 'test -f /run/berth-ready')).code === 0, 30_000);
}, 300_000);

afterAll(async () => {
  await h.cleanup();
});

describe('the backup repository', () => {
  it('is made once by berth backup init, its password kept out of the state and the repository readable only by its key', async () => {
    const before = await run(['backup', 'status', '--json']);
    expect(JSON.parse(before.stdout)).toMatchObject({ initialised: false });
    const made = await berthJson<{ repository: string; password: string }>(h.home, ['backup', 'init']);
    expect(made.repository).toBe(join(h.home, 'backups', 'repository'));
    expect(((await stat(made.repository)).mode & 0o777).toString(8)).toBe('700');
    const again = await run(['backup', 'init']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is initialised already');
    const state = await readFile(join(h.home, 'state.json'), 'utf8');
    expect(state).not.toMatch(/backupPassword|RESTIC_PASSWORD/);
    expect(await must(['backup', 'check'])).toContain('The repository is sound');
  });
});

describe('backups of a home', () => {
  it('a running VM is backed up; after changes, a restore in place brings the old files back, owned by the user, VM running again', async () => {
    const secret = `contents-${unique('x')}`;
    expect(
      (await inVm(alice, `echo ${secret} > ~/notes.txt && mkdir -p ~/src && echo one > ~/src/a.txt && chmod 600 ~/notes.txt`)).code,
    ).toBe(0);
    const taken = await berthJson<{ snapshot: string; files: number; bytesAdded: number }>(h.home, ['home', 'backup', alice]);
    expect(taken.files).toBeGreaterThanOrEqual(2);
    // The VM was frozen for the read, never stopped.
    expect((await docker.getContainer(await vmContainer(alice)).inspect()).State.Running).toBe(true);
    const [first] = await snapshots(alice);
    expect(first).toMatchObject({ id: taken.snapshot, reason: 'operator' });
    const state = JSON.parse(await readFile(join(h.home, 'state.json'), 'utf8')) as { homes: Array<{ id: string; owner: string }> };
    const home = state.homes[0];
    expect(first).toMatchObject({ home: home?.id, user: home?.owner });

    // Encrypted: no file of the repository holds the secret in the clear.
    for (const file of await filesUnder(join(h.home, 'backups', 'repository')))
      expect(await readFile(file, 'latin1')).not.toContain(secret);

    // A second backup of an unchanged home adds almost nothing.
    const second = await berthJson<{ bytesAdded: number }>(h.home, ['home', 'backup', alice]);
    expect(second.bytesAdded).toBeLessThan(4096);

    expect((await inVm(alice, 'rm -rf ~/src && echo changed > ~/notes.txt && echo new > ~/extra.txt')).code).toBe(0);
    const restored = await berthJson<{ safety: string; restarted: boolean; into: string; home: string }>(h.home, [
      'home',
      'restore',
      alice,
      '--snapshot',
      taken.snapshot,
      '--yes',
    ]);
    expect(restored.restarted).toBe(true);
    expect(restored.into).toBe(restored.home);
    await waitFor('the VM to run again', async () => (await inVm(alice, 'true')).code === 0, 30_000);
    const check = await inVm(alice, 'cat ~/notes.txt ~/src/a.txt; ls ~; stat -c "%u %a" ~/notes.txt ~/src/a.txt');
    expect(check.stdout).toContain(secret);
    expect(check.stdout).toContain('one');
    expect(check.stdout).not.toContain('extra.txt');
    expect(check.stdout).toMatch(/1000 600\n1000 644/);
    // The home as it was before the restore is a snapshot of its own.
    expect((await snapshots(alice)).find((s) => s.id === restored.safety)?.reason).toBe('safety');
  });

  it('--to-new-home restores into a new kept home of the same owner and leaves the current one alone', async () => {
    const [newest] = await snapshots(alice);
    expect((await inVm(alice, 'echo current > ~/now.txt')).code).toBe(0);
    const r = await berthJson<{ into: string; home: string }>(h.home, [
      'home',
      'restore',
      alice,
      '--snapshot',
      newest?.id ?? '',
      '--to-new-home',
    ]);
    expect(r.into).not.toBe(r.home);
    expect((await inVm(alice, 'cat ~/now.txt')).stdout.trim()).toBe('current');
    const homes = await berthJson<Array<{ id: string; owner: string; mountedBy: string | null; diskBytes: number | null }>>(h.home, [
      'home',
      'list',
    ]);
    expect(homes.find((x) => x.id === r.into)).toMatchObject({ owner: alice, mountedBy: null, diskBytes: 64 * 1024 ** 2 });
  });

  it('refuses a malformed snapshot id and one this home does not have', async () => {
    const [mine] = await snapshots(alice);
    const bad = await run(['home', 'restore', alice, '--snapshot', 'nothex!', '--yes']);
    expect(bad.stderr).toContain('is not a snapshot id');
    const missing = await run(['home', 'restore', alice, '--snapshot', 'deadbeef', '--yes']);
    expect(missing.stderr).toContain('has no snapshot deadbeef');
    expect(mine).toBeDefined();
  });

  it('a snapshot larger than the home can hold is refused before anything changes (its snapshots follow it into a quota)', async () => {
    await must(['plan', 'add', 'open', '--disk', '0']);
    const carol = unique('bc');
    await must(['user', 'allow', carol, '--plan', 'open']);
    await berthJson(h.home, ['vm', 'create', carol]);
    await waitFor(`${carol}'s VM to be ready`, async () => (await inVm(carol, 'test -f /run/berth-ready')).code === 0, 30_000);
    expect((await inVm(carol, 'head -c 41943040 /dev/urandom > ~/big.bin && echo kept > ~/marker.txt')).code).toBe(0);
    const big = await berthJson<{ snapshot: string }>(h.home, ['home', 'backup', carol]);
    // The home moves into a 32 MB quota at the rebuild (a new home): the snapshot stays its own.
    expect((await inVm(carol, 'rm ~/big.bin')).code).toBe(0);
    await must(['plan', 'set', 'open', '--disk', '32m']);
    await must(['vm', 'rebuild', carol]);
    await waitFor(`${carol}'s VM to be ready again`, async () => (await inVm(carol, 'test -f /run/berth-ready')).code === 0, 60_000);
    const listed = await snapshots(carol);
    expect(listed.map((s) => s.id)).toContain(big.snapshot);
    const refused = await run(['home', 'restore', carol, '--snapshot', big.snapshot, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds \d+ bytes; home [0-9a-f]{12} has room for about \d+\. Nothing was changed\./);
    // Nothing changed: the files are there, no safety snapshot was taken, the VM runs.
    expect((await inVm(carol, 'cat ~/marker.txt')).stdout.trim()).toBe('kept');
    expect((await snapshots(carol)).length).toBe(listed.length);
  });

  it('a backup killed midway (restic, then berth itself) leaves a repository restic check passes, and the next backup works', async () => {
    expect((await inVm(alice, 'head -c 31457280 /dev/urandom > ~/noise.bin')).code).toBe(0);
    // restic's container reading the home (not the unlock or listing ones before it).
    const running = async () =>
      (await docker.listContainers({ filters: { label: ['dev.berth.backup=true', `dev.berth.instance=${h.instanceId}`] } })).find((c) =>
        c.Command.includes(' backup /data'),
      );
    // restic's own container killed with SIGKILL while it reads the home.
    const first = execa('node', [join(ROOT, 'bin', 'run.js'), 'home', 'backup', alice], { env: { BERTH_HOME: h.home }, reject: false });
    const restic = await waitFor('restic to be reading the home', running, 60_000);
    await docker.getContainer(restic.Id).kill({ signal: 'SIGKILL' });
    const failed = await first;
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain('failed (restic exited');
    // berth killed with SIGKILL while its restic runs: the container it leaves is cleared by the next run.
    const second = execa('node', [join(ROOT, 'bin', 'run.js'), 'home', 'backup', alice], { env: { BERTH_HOME: h.home }, reject: false });
    await waitFor('restic to be reading the home again', running, 60_000);
    second.kill('SIGKILL');
    await second;
    // Its lock lets go within seconds of berth's death.
    const checked = await waitFor(
      'the killed run to let go',
      async () => {
        const r = await run(['backup', 'check']);
        return r.code === 0 ? r.stdout : null;
      },
      30_000,
    );
    expect(checked).toContain('The repository is sound');
    // The VM berth froze for the killed read runs again.
    expect((await docker.getContainer(await vmContainer(alice)).inspect()).State.Paused).toBe(false);
    const after = await berthJson<{ snapshot: string }>(h.home, ['home', 'backup', alice]);
    expect((await snapshots(alice)).map((s) => s.id)).toContain(after.snapshot);
    expect(await running()).toBeUndefined();
    expect((await inVm(alice, 'rm ~/noise.bin')).code).toBe(0);
  });

  it("a login given to someone else sees none of the old owner's snapshots; the kept home's stay with that home", async () => {
    const dora = unique('bd');
    await must(['user', 'allow', dora, '--plan', 'saved']);
    await berthJson(h.home, ['vm', 'create', dora]);
    await waitFor(`${dora}'s VM to be ready`, async () => (await inVm(dora, 'test -f /run/berth-ready')).code === 0, 30_000);
    expect((await inVm(dora, 'echo first-dora > ~/mine.txt')).code).toBe(0);
    const old = await berthJson<{ snapshot: string; home: string }>(h.home, ['home', 'backup', dora]);
    // The first dora goes; her home is kept, owned by nobody.
    await must(['vm', 'destroy', dora, '--yes', '--keep-data']);
    await must(['user', 'remove', dora, '--keep-homes']);
    // Someone else gets the login, and a VM.
    await must(['user', 'allow', dora, '--plan', 'saved']);
    await berthJson(h.home, ['vm', 'create', dora]);
    await waitFor(`the new ${dora}'s VM to be ready`, async () => (await inVm(dora, 'test -f /run/berth-ready')).code === 0, 30_000);
    expect(await snapshots(dora)).toEqual([]);
    const refused = await run(['home', 'restore', dora, '--snapshot', old.snapshot, '--yes']);
    expect(refused.stderr).toContain(`has no snapshot ${old.snapshot}`);
    expect((await inVm(dora, 'cat ~/mine.txt 2>&1 || true')).stdout).not.toContain('first-dora');
    // The kept home, by its id, still has its snapshot.
    expect((await snapshots(old.home)).map((x) => x.id)).toContain(old.snapshot);
  });
});
