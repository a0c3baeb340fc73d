import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { App } from '../../src/state/schema.js';
import { StateStore } from '../../src/state/store.js';
import { AppViewSchema } from '../../src/views/app-view.js';
import { PlanViewSchema } from '../../src/views/plan-view.js';
import { UserShowViewSchema } from '../../src/views/user-view.js';
import { berth, berthJson, type Run, stateText, tempHome } from '../helpers/cli.js';

let home: string;
let cleanup: () => Promise<void>;
/** A folder of the test's own, next to the berth home (code to deploy). */
let work: string;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  work = join(dirname(home), 'work');
  await mkdir(work, { recursive: true });
  expect((await berth(home, ['init'])).code).toBe(0);
  expect((await berth(home, ['user', 'allow', 'alice'])).code).toBe(0);
});
afterEach(() => cleanup());

/**
 * `berth app …` with an engine that is not there: nothing here may need Docker, and a command that
 * reached for it would fail with an engine error instead of the one the test expects.
 */
const app = (args: string[]): Promise<Run> =>
  berth(home, ['app', ...args], { env: { DOCKER_HOST: `unix://${join(dirname(home), 'no-engine.sock')}` } });

/** The error a `--json` run wrote on stderr. */
const errorOf = (run: Run) => (JSON.parse(run.stderr) as { error: { code: string; message: string; hint: string } }).error;

async function files(tree: Record<string, string>): Promise<string> {
  const dir = join(work, `code-${Math.random().toString(36).slice(2, 8)}`);
  for (const [name, text] of Object.entries(tree)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

/** An app record as the apps service leaves a failed first build (no engine needed to show it). */
async function addFailedApp(): Promise<App> {
  const store = new StateStore(home);
  return store.transact((state) => {
    const user = state.users.find((u) => u.login === 'alice');
    if (!user) throw new Error('alice is missing');
    const record: App = {
      id: 'a1b2c3d4e5f6',
      user: 'alice',
      userId: user.id,
      name: 'mybot',
      plan: user.plan,
      source: { kind: 'git', url: 'https://example.com/alice/bot.git', branch: 'main' },
      image: null,
      env: { MODE: 'prod', GREETING: 'hello world' },
      secrets: [
        { env: 'BOT_TOKEN', name: 'bot-token' },
        { env: 'DB_URL', name: 'database' },
      ],
      port: 8080,
      resources: { cpu: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 100 },
      lifetimeSeconds: 86400,
      desired: 'running',
      status: 'failed',
      containerId: null,
      createdAt: '2026-01-02T03:04:05.000Z',
      deployedAt: '2026-01-02T03:04:05.000Z',
      restarts: 0,
      crashes: [],
      build: {
        at: '2026-01-02T03:05:00.000Z',
        seconds: 12.5,
        outcome: 'failed',
        tail: 'Collecting nosuchpkg\nERROR: No matching distribution found for nosuchpkg\x1b[31m',
      },
    };
    state.apps = [...(state.apps ?? []), record];
    return record;
  });
}

describe('plan app limits', () => {
  it('are set with plan set, shown by plan show and plan list, and kept in the state', async () => {
    const set = PlanViewSchema.parse(
      await berthJson(home, [
        'plan',
        'set',
        'basic',
        '--apps',
        '2',
        '--app-cpu',
        '0.25',
        '--app-ram',
        '128m',
        '--app-pids',
        '64',
        '--app-lifetime',
        '7d',
        '--app-public',
      ]),
    );
    const expected = {
      max: 2,
      cpu: 0.25,
      ram: '128m',
      ramBytes: 128 * 1024 ** 2,
      pids: 64,
      lifetime: '7d',
      lifetimeSeconds: 7 * 86400,
      public: true,
    };
    expect(set.apps).toEqual(expected);
    expect(PlanViewSchema.parse(await berthJson(home, ['plan', 'show', 'basic'])).apps).toEqual(expected);
    const listed = z.array(PlanViewSchema).parse(await berthJson(home, ['plan', 'list']));
    expect(listed.find((p) => p.name === 'basic')?.apps).toEqual(expected);
    // The other plans say nothing: berth's defaults, as they are in effect.
    expect(listed.find((p) => p.name === 'standard')?.apps).toEqual({
      max: 3,
      cpu: 0.5,
      ram: '256m',
      ramBytes: 256 * 1024 ** 2,
      pids: 100,
      lifetime: '1d',
      lifetimeSeconds: 86400,
      public: false,
    });
    const plan = (await new StateStore(home).read()).plans.find((p) => p.name === 'basic');
    expect(plan).toMatchObject({
      maxApps: 2,
      appCpu: 0.25,
      appRamBytes: 128 * 1024 ** 2,
      appPids: 64,
      appLifetimeSeconds: 604800,
      appPublic: true,
    });

    const show = await berth(home, ['plan', 'show', 'basic']);
    expect(show.stdout).toMatch(/Apps per user:\s+2/);
    expect(show.stdout).toMatch(/App resources:\s+0\.25 CPU, 128m RAM, 64 processes/);
    expect(show.stdout).toMatch(/App lifetime:\s+7d/);
    expect(show.stdout).toMatch(/App web ports:\s+public/);
    const table = await berth(home, ['plan', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/\bAPPS\s+APP CPU\s+APP RAM\b/);
    expect(table.stdout).toMatch(/^basic\s.*\bno\s+2\s+0\.25\s+128m\s/m);

    // --no-app-public and --app-lifetime 0 (no limit) change only what they say.
    const again = PlanViewSchema.parse(await berthJson(home, ['plan', 'set', 'basic', '--no-app-public', '--app-lifetime', '0']));
    expect(again.apps).toEqual({ ...expected, public: false, lifetime: '0', lifetimeSeconds: 0 });
    expect((await berth(home, ['plan', 'show', 'basic'])).stdout).toMatch(/App lifetime:\s+none/);
  });

  it('are given to a new plan by plan add; a plan without apps says so', async () => {
    const added = PlanViewSchema.parse(await berthJson(home, ['plan', 'add', 'bots', '--apps', '5', '--app-ram', '1g']));
    expect(added.apps).toMatchObject({ max: 5, ram: '1g', cpu: 0.5, pids: 100 });
    const none = await berth(home, ['plan', 'add', 'quiet', '--apps', '0']);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('apps: no apps');
    const show = await berth(home, ['plan', 'show', 'quiet']);
    expect(show.stdout).toMatch(/Apps per user:\s+0/);
    expect(show.stdout).not.toContain('App resources');
  });

  const bad: Array<[string, string[], string, string]> = [
    ['too many apps', ['--apps', '1001'], 'INVALID_NUMBER', 'from 0 to 1000'],
    ['negative apps', ['--apps=-1'], 'INVALID_NUMBER', 'from 0 to 1000'],
    ['no CPU', ['--app-cpu', '0'], 'INVALID_CPUS', '0.01 to 1024'],
    ['tiny RAM', ['--app-ram', '1k'], 'INVALID_SIZE', 'at least 6m'],
    ['RAM without a unit', ['--app-ram', '128'], 'INVALID_SIZE', '128m'],
    ['too few processes', ['--app-pids', '8'], 'INVALID_NUMBER', 'from 16 to 100000'],
    ['too many processes', ['--app-pids', '100001'], 'INVALID_NUMBER', 'from 16 to 100000'],
    ['a lifetime in words', ['--app-lifetime', 'forever'], 'INVALID_DURATION', '30m'],
  ];
  it.each(bad)('refuse %s with exit code 2, a clear error, and the state unchanged', async (_name, flags, code, hint) => {
    const before = await stateText(home);
    for (const command of [
      ['plan', 'set', 'basic', ...flags],
      ['plan', 'add', 'newplan', ...flags],
    ]) {
      const run = await berth(home, [...command, '--json']);
      expect(run.code).toBe(2);
      expect(errorOf(run).code).toBe(code);
      expect(errorOf(run).hint).toContain(hint);
      expect(run.stdout).toBe('');
      const plain = await berth(home, command);
      expect(plain.code).toBe(2);
      expect(plain.stderr.trim().split('\n')).toHaveLength(2);
      expect(plain.stderr).toMatch(/^Error: /);
    }
    expect(await stateText(home)).toBe(before);
  });

  it('plan set with no change names the app flags too', async () => {
    const run = await berth(home, ['plan', 'set', 'basic']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--apps, --app-cpu, --app-ram, --app-pids, --app-lifetime, --app-public');
  });
});

describe('berth app deploy: what is refused before any build', () => {
  const CHOICES =
    'Give exactly one source: FILES (files, or one folder), --archive FILE, --from-vm VM:PATH, --git URL [--branch B], --image REF or --image-archive FILE.';

  /** Runs a deploy that must fail: its error, with the state byte-for-byte unchanged and nothing on stdout. */
  async function refused(args: string[], exit: number): Promise<{ code: string; message: string; hint: string }> {
    const before = await stateText(home);
    const run = await app(['deploy', ...args, '--json']);
    expect(run.code, run.stderr).toBe(exit);
    expect(run.stdout).toBe('');
    expect(await stateText(home)).toBe(before);
    const plain = await app(['deploy', ...args]);
    expect(plain.code).toBe(exit);
    // The error's two lines, after at most the line that says the deploy began.
    const lines = plain.stderr.trim().split('\n');
    expect(
      lines.filter((l) => !l.startsWith('Deploying ')),
      plain.stderr,
    ).toHaveLength(2);
    expect(lines.at(-2)).toMatch(/^Error: /);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(await stateText(home)).toBe(before);
    return errorOf(run);
  }

  it('no source, or two, with a hint listing the sources', async () => {
    const none = await refused(['alice/mybot'], 2);
    expect(none).toEqual({ code: 'INVALID_APP_SOURCE', message: 'The deploy names no source.', hint: CHOICES });
    const dir = await files({ 'bot.py': 'print(1)\n' });
    const two = await refused(['alice/mybot', dir, '--git', 'https://example.com/a/b.git'], 2);
    expect(two).toEqual({ code: 'INVALID_APP_SOURCE', message: 'The deploy names 2 sources: FILES, --git.', hint: CHOICES });
    const three = await refused(['alice/mybot', '--image', 'python:3.12', '--from-vm', 'main:~/bot', '--archive', join(dir, 'bot.py')], 2);
    expect(three.message).toBe('The deploy names 3 sources: --archive, --from-vm, --image.');
    expect((await refused(['alice/mybot', '--image', 'python:3.12', '--branch', 'dev'], 2)).message).toBe('--branch goes with --git.');
  });

  it('a variable that is not NAME=value, or one berth sets itself', async () => {
    const dir = await files({ 'bot.py': 'print(1)\n' });
    const noValue = await refused(['alice/mybot', dir, '--env', 'MODE'], 2);
    expect(noValue).toMatchObject({ code: 'INVALID_ENV', message: '"MODE" is not NAME=value.' });
    expect(noValue.hint).toContain('--env MODE=prod');
    expect((await refused(['alice/mybot', dir, '--env', 'MODE=prod', '--env', 'PATH=/evil'], 2)).code).toBe('INVALID_ENV');
    expect((await refused(['alice/mybot', dir, '--secret', 'Not A Secret'], 2)).code).toBe('INVALID_ENV');
  });

  it('a bad app name, a ref without its user, an unknown user', async () => {
    const dir = await files({ 'bot.py': 'print(1)\n' });
    const badName = await refused(['alice/My_Bot', dir], 2);
    expect(badName).toMatchObject({ code: 'INVALID_APP_NAME', message: '"My_Bot" is not a valid app name.' });
    expect(badName.hint).toContain('An app name is 1–32 characters');
    expect(await refused(['alice/a/b', dir], 2)).toMatchObject({ code: 'INVALID_APP_NAME' });
    expect(await refused(['mybot', dir], 2)).toEqual({
      code: 'INVALID_APP_NAME',
      message: 'Say whose app "mybot" is.',
      hint: 'Write it as USER/NAME, e.g. alice/mybot.',
    });
    expect(await refused(['bob/mybot', dir], 1)).toMatchObject({ code: 'USER_NOT_FOUND', message: 'There is no user "bob".' });
  });

  it('a port out of range, a runtime berth does not build, a bad git source or VM folder', async () => {
    const dir = await files({ 'bot.py': 'print(1)\n' });
    const port = await refused(['alice/mybot', dir, '--port', '0'], 2);
    expect(port.code).toBe('USAGE');
    expect(port.message).toContain('--port: Expected an integer greater than or equal to 1');
    expect((await refused(['alice/mybot', dir, '--port', '70000'], 2)).message).toContain('less than or equal to 65535');
    expect((await refused(['alice/mybot', dir, '--runtime', 'ruby'], 2)).code).toBe('USAGE');
    expect(await refused(['alice/mybot', '--git', 'ftp://example.com/x.git'], 2)).toMatchObject({ code: 'INVALID_GIT_SOURCE' });
    expect(await refused(['alice/mybot', '--git', 'https://me:pw@example.com/x.git'], 2)).toMatchObject({ code: 'INVALID_GIT_SOURCE' });
    expect(await refused(['alice/mybot', '--git', 'https://example.com/x.git', '--branch=-evil'], 2)).toMatchObject({
      code: 'INVALID_GIT_SOURCE',
    });
    expect(await refused(['alice/mybot', '--from-vm', 'main'], 2)).toMatchObject({
      code: 'INVALID_APP_SOURCE',
      message: '"main" is not VM:PATH.',
    });
    expect(await refused(['alice/mybot', dir, '--entrypoint', '../x.py'], 2)).toMatchObject({ code: 'INVALID_ENTRYPOINT' });
  });

  it('local files that are not there, a folder with other files, two files of one name, an empty folder', async () => {
    const dir = await files({ 'bot.py': 'print(1)\n', 'sub/bot.py': 'print(2)\n' });
    expect(await refused(['alice/mybot', join(work, 'nothing-here')], 1)).toMatchObject({
      code: 'INVALID_APP_SOURCE',
      message: `There is no file or folder ${join(work, 'nothing-here')}.`,
    });
    expect(await refused(['alice/mybot', dir, join(dir, 'bot.py')], 2)).toMatchObject({ code: 'INVALID_APP_SOURCE' });
    expect(await refused(['alice/mybot', join(dir, 'bot.py'), join(dir, 'sub', 'bot.py')], 2)).toMatchObject({
      message: 'Two files are named bot.py.',
    });
    const empty = join(work, 'empty');
    await mkdir(join(empty, 'node_modules'), { recursive: true });
    await writeFile(join(empty, 'node_modules', 'x.js'), '1');
    expect((await refused(['alice/mybot', empty], 1)).message).toContain('has no files to deploy');
    expect(await refused(['alice/mybot', '--archive', join(work, 'none.tar.gz')], 1)).toMatchObject({ code: 'INVALID_APP_SOURCE' });
    expect(await refused(['alice/mybot', '--image-archive', dir], 1)).toMatchObject({ message: `${dir} is not a file.` });
  });

  it('a folder larger than apps.max-upload, before it is read; the skipped folders do not count', async () => {
    expect((await berth(home, ['config', 'set', 'apps.max-upload', '64k'])).code).toBe(0);
    const big = 'x'.repeat(70 * 1024);
    const fits = await files({
      'bot.py': 'print(1)\n',
      'node_modules/big.js': big,
      '.git/objects/big': big,
      'lib/.venv/big': big,
      '__pycache__/big.pyc': big,
    });
    const tooBig = await files({ 'bot.py': 'print(1)\n', 'data/big.bin': big });
    const refusedBig = await refused(['alice/mybot', tooBig], 1);
    expect(refusedBig.code).toBe('ARCHIVE_UNSAFE');
    expect(refusedBig.message).toBe(`The folder ${tooBig} holds more than apps.max-upload (64k).`);
    expect(refusedBig.hint).toContain('berth config set apps.max-upload');
    expect((await refused(['alice/mybot', '--archive', join(tooBig, 'data', 'big.bin')], 1)).code).toBe('ARCHIVE_UNSAFE');
    // The folder within the limit once its skipped folders are left out gets past reading: to the
    // plan's limit, which (with no apps) refuses it before any engine is asked.
    expect((await berth(home, ['plan', 'set', 'basic', '--apps', '0'])).code).toBe(0);
    expect(await refused(['alice/mybot', fits], 1)).toMatchObject({ code: 'APP_LIMIT', message: 'The plan basic has no apps.' });
  });

  it('an image upload when the operator turned uploads off', async () => {
    expect((await berth(home, ['config', 'set', 'apps.max-image-upload', 'off'])).code).toBe(0);
    const dir = await files({ 'image.tar': 'not really' });
    expect(await refused(['alice/mybot', '--image-archive', join(dir, 'image.tar')], 1)).toMatchObject({ code: 'IMAGE_UPLOAD_OFF' });
  });

  it('an app of that name already there, without --replace', async () => {
    await addFailedApp();
    const dir = await files({ 'bot.py': 'print(1)\n' });
    const exists = await refused(['alice/mybot', dir], 1);
    expect(exists.code).toBe('APP_EXISTS');
    expect(exists.hint).toContain('--replace');
  });
});

describe('berth app list, show and the rest', () => {
  it('lists nothing on an empty home', async () => {
    expect(await berthJson(home, ['app', 'list'])).toEqual([]);
    expect(await berthJson(home, ['app', 'list', 'alice'])).toEqual([]);
    const plain = await app(['list']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe('No apps. Deploy one with: berth app deploy USER/NAME ./folder');
    const unknown = await app(['list', 'bob', '--json']);
    expect(unknown.code).toBe(1);
    expect(errorOf(unknown).code).toBe('USER_NOT_FOUND');
  });

  it('says APP_NOT_FOUND for an app that is not there, whatever the command', async () => {
    for (const command of ['show', 'stop', 'start', 'restart', 'remove']) {
      const run = await app([command, 'alice/ghost', '--json']);
      expect(run.code, `${command}: ${run.stderr}`).toBe(1);
      expect(errorOf(run)).toEqual({
        code: 'APP_NOT_FOUND',
        message: 'alice has no app "ghost".',
        hint: 'List them: berth app list alice',
      });
      expect(run.stdout).toBe('');
    }
    const logs = await app(['logs', 'alice/ghost']);
    expect(logs.code).toBe(1);
    expect(logs.stderr).toBe('Error: alice has no app "ghost".\nList them: berth app list alice');
    const plain = await app(['show', 'alice/ghost']);
    expect(plain.stderr).toBe('Error: alice has no app "ghost".\nList them: berth app list alice');
  });

  it('shows an app whose build failed: every field, the build tail, variables with values, secrets by name', async () => {
    const record = await addFailedApp();
    const view = AppViewSchema.strict().parse(await berthJson(home, ['app', 'show', 'alice/mybot']));
    expect(view).toMatchObject({
      ref: 'alice/mybot',
      id: record.id,
      status: 'failed',
      desired: 'running',
      source: {
        kind: 'git',
        description: 'https://example.com/alice/bot.git (main)',
        url: 'https://example.com/alice/bot.git',
        branch: 'main',
        vm: null,
      },
      image: null,
      env: { MODE: 'prod', GREETING: 'hello world' },
      secrets: [
        { env: 'BOT_TOKEN', name: 'bot-token' },
        { env: 'DB_URL', name: 'database' },
      ],
      port: 8080,
      cpu: 0.5,
      ram: '256m',
      pids: 100,
      lifetime: '1d',
      stopsAt: null,
      build: { outcome: 'failed', seconds: 12.5, tail: record.build?.tail },
    });
    for (const secret of view.secrets) expect(Object.keys(secret).sort()).toEqual(['env', 'name']);

    const plain = await app(['show', 'alice/mybot']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^App:\s+alice\/mybot$/m);
    expect(plain.stdout).toMatch(/^Status:\s+failed \(desired: running\)$/m);
    expect(plain.stdout).toMatch(/^Last build:\s+failed in 12\.5 s, at 2026-01-02T03:05:00\.000Z$/m);
    expect(plain.stdout).toMatch(/^Secrets:\s+bot-token, DB_URL=database$/m);
    expect(plain.stdout).toMatch(/^Variables:\s+MODE, GREETING$/m);
    expect(plain.stdout).toContain('  MODE=prod\n  GREETING=hello world');
    expect(plain.stdout).toContain(
      'Last lines of the build:\n  Collecting nosuchpkg\n  ERROR: No matching distribution found for nosuchpkg\\x1b[31m',
    );
    expect(plain.stdout).not.toContain('\x1b');

    const listed = z.array(AppViewSchema).parse(await berthJson(home, ['app', 'list']));
    expect(listed.map((a) => a.ref)).toEqual(['alice/mybot']);
    const table = await app(['list', 'alice']);
    expect(table.stdout.split('\n')[0]).toMatch(/^APP\s+STATUS\s+SOURCE\s+RESTARTS\s+SINCE\s+CPU\s+RAM$/);
    expect(table.stdout.split('\n')[1]).toMatch(
      /^alice\/mybot\s+failed\s+git example\.com\/alice\/bot\.git#main\s+0\s+failed \d+[smhd]\s+0\.5\s+256m$/,
    );
  });

  it("berth user show lists the user's apps with their status, in its table and its --json", async () => {
    const before = await berth(home, ['user', 'show', 'alice']);
    expect(before.stdout).toContain('No apps.');
    await addFailedApp();
    const shown = await berth(home, ['user', 'show', 'alice'], { env: { DOCKER_HOST: `unix://${join(dirname(home), 'no-engine.sock')}` } });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^APP\s+STATUS\s+RESTARTS\s+STARTED$/m);
    expect(shown.stdout).toMatch(/^mybot\s+failed\s+0\s+-$/m);
    const json = UserShowViewSchema.parse(await berthJson(home, ['user', 'show', 'alice']));
    expect(json.login).toBe('alice');
    expect(json.apps).toEqual([
      { ref: 'alice/mybot', name: 'mybot', status: 'failed', desired: 'running', restarts: 0, startedAt: null, stopReason: null },
    ]);
  });

  it('removes an app that never ran without asking, and it is gone', async () => {
    await addFailedApp();
    // removeApp asks the engine even for an app without a container or image: this one needs Docker.
    const run = await berth(home, ['app', 'remove', 'alice/mybot', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ removed: 'alice/mybot', id: 'a1b2c3d4e5f6' });
    expect(await berthJson(home, ['app', 'list'])).toEqual([]);
    expect((await new StateStore(home).read()).events.at(-1)).toMatchObject({ kind: 'app-remove', vm: 'app:alice/mybot' });
  });
});
