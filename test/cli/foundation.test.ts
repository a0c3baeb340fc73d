import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigEntrySchema } from '../../src/views/config-view.js';
import { PlanViewSchema } from '../../src/views/plan-view.js';
import { KeyViewSchema, UserViewSchema } from '../../src/views/user-view.js';
import { berth, berthJson, stateText, tempHome } from '../helpers/cli.js';

let home: string;
let cleanup: () => Promise<void>;
let keyDir: string;

async function freshHome(): Promise<void> {
  await cleanup?.();
  ({ home, cleanup } = await tempHome());
  expect((await berth(home, ['init'])).code).toBe(0);
}

async function newKey(name: string, type = 'ed25519'): Promise<string> {
  const path = join(keyDir, name);
  await execa('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', `${name}@laptop`, '-f', path]);
  return path;
}

beforeAll(async () => {
  const made = await tempHome();
  keyDir = made.home.replace(/home$/, '');
});
afterAll(() => cleanup?.());
beforeEach(freshHome);

describe('berth init', () => {
  it('creates the default plans and is idempotent', async () => {
    const plans = z.array(PlanViewSchema).parse(await berthJson(home, ['plan', 'list']));
    expect(plans.map((p) => [p.name, p.cpu, p.ram, p.gpu])).toEqual([
      ['basic', 1, '1g', 0],
      ['standard', 2, '4g', 0],
      ['pro', 4, '8g', 0],
      ['enterprise', 8, '16g', 1],
    ]);
    const before = await stateText(home);
    const again = await berth(home, ['init']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already initialised');
    expect(await stateText(home)).toBe(before);
  });

  it('prints next steps', async () => {
    const { home: other, cleanup: done } = await tempHome();
    const run = await berth(other, ['init']);
    expect(run.stdout).toContain('Next steps');
    expect(run.stdout).toContain('berth user allow');
    await done();
  });

  it('tells a command run before init how to start, with exit code 1', async () => {
    const { home: other, cleanup: done } = await tempHome();
    const run = await berth(other, ['plan', 'list']);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toContain('no state');
    expect(run.stderr).toContain('berth init');
    await done();
  });
});

describe('plans', () => {
  it('adds, shows, changes and removes a plan with fractional CPUs', async () => {
    const added = PlanViewSchema.parse(
      await berthJson(home, ['plan', 'add', 'student', '--cpu', '0.5', '--ram', '512m', '--pids', '256', '--description', 'For courses']),
    );
    expect(added).toMatchObject({ name: 'student', cpu: 0.5, ram: '512m', ramBytes: 512 * 1024 ** 2, pids: 256, maxVms: 1, gpu: 0 });
    expect(added.record).toBeNull();
    const changed = PlanViewSchema.parse(
      await berthJson(home, ['plan', 'set', 'student', '--gpu', 'all', '--max-vms', '3', '--record', 'output+input']),
    );
    expect(changed).toMatchObject({ gpu: 'all', maxVms: 3, cpu: 0.5, record: 'output+input' });
    expect(PlanViewSchema.parse(await berthJson(home, ['plan', 'set', 'student', '--record', 'default'])).record).toBeNull();
    const show = await berth(home, ['plan', 'show', 'student']);
    expect(show.stdout).toMatch(/CPU:\s+0\.5/);
    expect((await berth(home, ['plan', 'remove', 'student'])).code).toBe(0);
    expect((await berth(home, ['plan', 'show', 'student'])).code).toBe(1);
  });

  it('leaves CPU and RAM to the global defaults when a plan does not say', async () => {
    const plan = PlanViewSchema.parse(await berthJson(home, ['plan', 'add', 'tiny']));
    expect(plan).toMatchObject({ cpu: null, ram: null, pids: 512, maxVms: 1 });
  });

  it('refuses to remove a plan that users are on, naming them', async () => {
    await berth(home, ['plan', 'add', 'gold']);
    await berth(home, ['user', 'allow', 'alice', '--plan', 'gold']);
    await berth(home, ['user', 'allow', 'bob', '--plan', 'gold']);
    const before = await stateText(home);
    const run = await berth(home, ['plan', 'remove', 'gold', '--json']);
    expect(run.code).toBe(1);
    const error = JSON.parse(run.stderr).error;
    expect(error.code).toBe('PLAN_IN_USE');
    expect(error.message).toContain('alice, bob');
    expect(await stateText(home)).toBe(before);
  });

  it('prints a human table', async () => {
    const run = await berth(home, ['plan', 'list']);
    expect(run.stdout.split('\n')[0]).toMatch(/^NAME\s+CPU\s+RAM\s+DISK\s+GPU/);
    expect(run.stdout).toMatch(/enterprise\s+8\s+16g\s+default\s+1/);
  });
});

describe('users', () => {
  it('walks a user through allow, set, revoke, allow again and remove', async () => {
    const alice = UserViewSchema.parse(await berthJson(home, ['user', 'allow', 'alice', '--telegram-id', '123456789']));
    expect(alice).toMatchObject({ login: 'alice', status: 'allowed', role: 'user', plan: 'basic', telegramId: 123456789, keys: [] });
    expect(Date.parse(alice.createdAt)).not.toBeNaN();
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'set', 'alice', '--plan', 'pro', '--role', 'admin']))).toMatchObject({
      plan: 'pro',
      role: 'admin',
    });
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'revoke', 'alice'])).status).toBe('revoked');
    const again = await berth(home, ['user', 'revoke', 'alice']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('berth user allow alice');
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'allow', 'alice'])).status).toBe('allowed');
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'set', 'alice', '--no-telegram-id'])).telegramId).toBeNull();
    expect((await berth(home, ['user', 'remove', 'alice'])).code).toBe(0);
    expect(z.array(UserViewSchema).parse(await berthJson(home, ['user', 'list']))).toEqual([]);
  });

  it('approves and rejects pending users only', async () => {
    // Pending users arrive through the Telegram bot; here the state is written as the bot would.
    const state = JSON.parse(await stateText(home));
    for (const [i, login] of ['carol', 'dave'].entries()) {
      state.users.push({
        id: `00000000000${i}`,
        login,
        role: 'user',
        plan: 'basic',
        status: 'pending',
        createdAt: new Date().toISOString(),
        keys: [],
      });
    }
    await writeFile(join(home, 'state.json'), JSON.stringify(state));
    const pending = z.array(UserViewSchema).parse(await berthJson(home, ['user', 'list', '--status', 'pending']));
    expect(pending.map((u) => u.login)).toEqual(['carol', 'dave']);
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'approve', 'carol', '--plan', 'standard']))).toMatchObject({
      status: 'allowed',
      plan: 'standard',
    });
    expect(UserViewSchema.parse(await berthJson(home, ['user', 'reject', 'dave'])).status).toBe('rejected');
    const rejectAllowed = await berth(home, ['user', 'reject', 'carol']);
    expect(rejectAllowed.code).toBe(1);
    expect(rejectAllowed.stderr).toContain('only pending users can be rejected');
  });

  it('keeps Telegram ids unique', async () => {
    await berth(home, ['user', 'allow', 'alice', '--telegram-id', '42']);
    const before = await stateText(home);
    const run = await berth(home, ['user', 'allow', 'bob', '--telegram-id', '42']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Telegram id 42 already belongs to user "alice"');
    const set = await berth(home, ['user', 'allow', 'bob']);
    expect(set.code).toBe(0);
    const steal = await berth(home, ['user', 'set', 'bob', '--telegram-id', '42']);
    expect(steal.code).toBe(1);
    const state = JSON.parse(await stateText(home));
    expect(state.users.filter((u: { telegramId?: number }) => u.telegramId === 42)).toHaveLength(1);
    expect(before).not.toBe(await stateText(home)); // bob was added, nothing else
  });

  it('shows a user with their keys in a table', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    const run = await berth(home, ['user', 'show', 'alice']);
    expect(run.stdout).toMatch(/Status:\s+allowed/);
    expect(run.stdout).toContain('No SSH keys');
  });
});

describe('SSH keys', () => {
  it('adds keys from a file or the command line, lists them with ssh-keygen fingerprints, removes by fingerprint', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    const ed = await newKey('alice-ed');
    const ec = await newKey('alice-ec', 'ecdsa');
    const added = z.array(KeyViewSchema).parse(await berthJson(home, ['user', 'key', 'add', 'alice', '--file', `${ed}.pub`]));
    const expected = (await execa('ssh-keygen', ['-lf', `${ed}.pub`])).stdout.split(' ')[1];
    expect(added[0]?.fingerprint).toBe(expected);
    const line = (await readFile(`${ec}.pub`, 'utf8')).trim();
    const run = await berth(home, ['user', 'key', 'add', 'alice', ...line.split(' ')]);
    expect(run.code).toBe(0);
    const keys = z.array(KeyViewSchema).parse(await berthJson(home, ['user', 'key', 'list', 'alice']));
    expect(keys.map((k) => k.type)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(keys[1]?.publicKey).toBe(line);
    expect((await berth(home, ['user', 'key', 'remove', 'alice', expected ?? ''])).code).toBe(0);
    expect(z.array(KeyViewSchema).parse(await berthJson(home, ['user', 'key', 'list', 'alice']))).toHaveLength(1);
  });

  it('reads keys from stdin with --file -', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    const key = await newKey('stdin-key');
    const run = await berth(home, ['user', 'key', 'add', 'alice', '--file', '-', '--json'], {
      input: await readFile(`${key}.pub`, 'utf8'),
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toHaveLength(1);
  });

  it('lets a key that another user registered be registered too, without telling that anyone holds it', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    await berth(home, ['user', 'allow', 'mallory']);
    const key = await newKey('published');
    // Mallory registers alice's public key (published on a code host) first…
    expect((await berth(home, ['user', 'key', 'add', 'mallory', '--file', `${key}.pub`])).code).toBe(0);
    // …which neither blocks alice nor tells her anything.
    const alice = await berth(home, ['user', 'key', 'add', 'alice', '--file', `${key}.pub`]);
    expect(alice.code, alice.stderr).toBe(0);
    expect(alice.stdout + alice.stderr).not.toMatch(/mallory|another user|already/i);
  });

  it('holds a user to ssh.max-keys, counting a whole input at once, and changes nothing when refused', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    expect((await berth(home, ['config', 'set', 'ssh.max-keys', '2'])).code).toBe(0);
    const keys = await Promise.all(['k1', 'k2', 'k3'].map((n) => newKey(n)));
    const text = (await Promise.all(keys.map((k) => readFile(`${k}.pub`, 'utf8')))).join('');
    const before = await stateText(home);
    const run = await berth(home, ['user', 'key', 'add', 'alice', '--file', '-', '--json'], { input: text });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr).error.code).toBe('SSH_KEY_LIMIT');
    expect(JSON.parse(run.stderr).error.hint).toContain('ssh.max-keys');
    expect(await stateText(home)).toBe(before);
    expect((await berth(home, ['user', 'key', 'add', 'alice', '--file', `${keys[0]}.pub`])).code).toBe(0);
    expect((await berth(home, ['user', 'key', 'add', 'alice', '--file', `${keys[1]}.pub`])).code).toBe(0);
    expect((await berth(home, ['user', 'key', 'add', 'alice', '--file', `${keys[2]}.pub`])).code).toBe(1);
  });

  it('refuses the same key twice for one user, weak RSA and private keys, leaving the state unchanged', async () => {
    await berth(home, ['user', 'allow', 'alice']);
    await berth(home, ['user', 'allow', 'bob']);
    const key = await newKey('shared');
    const weak = await newKey('weak', 'rsa');
    await execa('ssh-keygen', ['-q', '-N', '', '-t', 'rsa', '-b', '1024', '-f', `${weak}-1024`]);
    expect((await berth(home, ['user', 'key', 'add', 'alice', '--file', `${key}.pub`])).code).toBe(0);
    const before = await stateText(home);
    for (const [args, code] of [
      [['user', 'key', 'add', 'alice', '--file', `${key}.pub`], 'SSH_KEY_EXISTS'],
      [['user', 'key', 'add', 'bob', '--file', `${weak}-1024.pub`], 'WEAK_SSH_KEY'],
      [['user', 'key', 'add', 'bob', '--file', key], 'PRIVATE_KEY_GIVEN'],
      [['user', 'key', 'add', 'bob', 'ssh-ed25519', 'AAAAnotakey'], 'INVALID_SSH_KEY'],
      [['user', 'key', 'add', 'bob', '--file', '/nonexistent.pub'], 'FILE_UNREADABLE'],
      [['user', 'key', 'remove', 'bob', 'SHA256:nothere'], 'SSH_KEY_NOT_FOUND'],
    ] as const) {
      const run = await berth(home, [...args, '--json']);
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(JSON.parse(run.stderr).error.code, args.join(' ')).toBe(code);
      expect(await stateText(home)).toBe(before);
    }
  });
});

describe('config', () => {
  it('lists every key with its source, sets, gets and unsets values', async () => {
    const entries = z.array(ConfigEntrySchema).parse(await berthJson(home, ['config', 'list']));
    expect(entries.map((e) => e.key)).toEqual(
      expect.arrayContaining(['ram', 'cpu', 'gpu', 'image', 'max-vms', 'idle-timeout', 'ssh.listen', 'telegram.admins']),
    );
    expect(entries.every((e) => e.source === 'default')).toBe(true);
    for (const [key, value, shown] of [
      ['ram', '4G', '4g'],
      ['cpu', '1.5', '1.5'],
      ['gpu', 'on', 'on'],
      ['image', 'registry.local:5000/team/vm:2', 'registry.local:5000/team/vm:2'],
      ['max-vms', '20', '20'],
      ['idle-timeout', '90m', '1h30m'],
      ['ssh.listen', '127.0.0.1:2022', '127.0.0.1:2022'],
      ['telegram.admins', '111, 222', '111,222'],
    ]) {
      expect(ConfigEntrySchema.parse(await berthJson(home, ['config', 'set', key!, value!]))).toMatchObject({
        value: shown,
        source: 'set',
      });
      expect((await berth(home, ['config', 'get', key!])).stdout).toBe(shown);
    }
    expect(ConfigEntrySchema.parse(await berthJson(home, ['config', 'unset', 'ram']))).toMatchObject({ value: '1g', source: 'default' });
  });

  it('refuses an unknown key with the list of valid keys, and a bad value with how to write it', async () => {
    const unknown = await berth(home, ['config', 'set', 'colour', 'blue']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Valid keys: ram, cpu, disk, rootfs, gpu');
    const bad = await berth(home, ['config', 'set', 'gpu', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Use on or off');
  });
});

describe('hostile input', () => {
  const cases: Array<[string, string[]]> = [
    ['bad size lots', ['plan', 'add', 'x1', '--ram', 'lots']],
    ['negative size', ['plan', 'add', 'x2', '--ram=-1g']],
    ['enormous size', ['plan', 'add', 'x3', '--ram', '99999999t']],
    ['negative cpu', ['plan', 'add', 'x4', '--cpu=-1']],
    ['shell in a plan name', ['plan', 'add', "Robert'; rm -rf /"]],
    ['path in a plan name', ['plan', 'add', '../x']],
    ['200-char login', ['user', 'allow', 'a'.repeat(200)]],
    ['unicode login', ['user', 'allow', 'élodie']],
    ['shell in a login', ['user', 'allow', "Robert'; rm -rf /"]],
    ['path login', ['user', 'allow', '../x']],
    ['reserved login', ['user', 'allow', 'root']],
    ['bad Telegram id', ['user', 'allow', 'eve', '--telegram-id', '12ab']],
    ['negative Telegram id', ['user', 'allow', 'eve', '--telegram-id=-5']],
    ['plan that does not exist', ['user', 'allow', 'eve', '--plan', 'platinum']],
    ['removing a missing plan', ['plan', 'remove', 'platinum']],
    ['removing a missing user', ['user', 'remove', 'nobody-here']],
    ['approving a missing user', ['user', 'approve', 'nobody-here']],
    ['keys of a missing user', ['user', 'key', 'list', 'nobody-here']],
    ['nothing to change', ['plan', 'set', 'basic']],
    ['bad role', ['user', 'set', 'alice', '--role', 'root']],
    ['unknown config key', ['config', 'set', '../../etc/passwd', 'x']],
    ['bad image', ['config', 'set', 'image', 'ubuntu; rm -rf /']],
    ['bad duration', ['config', 'set', 'idle-timeout', 'forever']],
    ['bad recording mode', ['config', 'set', 'sessions.record', 'everything']],
    ['bad plan recording mode', ['plan', 'set', 'basic', '--record', 'keystrokes']],
    ['a retention of 0', ['config', 'set', 'sessions.record-keep', '0']],
    ['default plan that does not exist', ['config', 'set', 'default-plan', 'platinum']],
    ['unknown flag', ['plan', 'list', '--everything']],
  ];

  it.each(cases)('%s: a clear two-line error, and the state file byte-for-byte unchanged', async (_name, args) => {
    await berth(home, ['user', 'allow', 'alice']);
    const before = await stateText(home);
    const run = await berth(home, args);
    expect([1, 2]).toContain(run.code);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Error: /);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.stdout).toBe('');
    expect(await stateText(home)).toBe(before);
  });

  it('uses exit code 2 for usage errors and 1 for runtime errors', async () => {
    expect((await berth(home, ['plan', 'add', 'x', '--ram', 'lots'])).code).toBe(2);
    expect((await berth(home, ['plan', 'add'])).code).toBe(2);
    expect((await berth(home, ['plan', 'remove', 'platinum'])).code).toBe(1);
  });

  it('prints a stack trace only with BERTH_DEBUG=1', async () => {
    const run = await berth(home, ['plan', 'remove', 'platinum'], { env: { BERTH_DEBUG: '1' } });
    expect(run.stderr).toMatch(/\n\s+at /);
  });

  it('explains a damaged state file and leaves it alone', async () => {
    await writeFile(join(home, 'state.json'), '{ not json');
    const run = await berth(home, ['user', 'allow', 'alice']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(join(home, 'state.json'));
    expect(run.stderr).toContain('state.json.bak');
    expect(await stateText(home)).toBe('{ not json');
  });
});
