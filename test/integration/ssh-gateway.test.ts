import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { daemonLog, state, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, MINIMAL_IMAGE, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { DEBIAN_IMAGE, debianImage } from '../helpers/images.js';
import { sshClientOptions } from '../helpers/ssh.js';
import { pane, tmux } from '../helpers/terminal.js';

let h: VmHome;
let port: number;
let keys: string;

const run = (args: string[]) => berth(h.home, args);
const key = (name: string) => join(keys, name);

function sshOptions(keyName: string, extra: string[] = []): string[] {
  return sshClientOptions(port, key(keyName), extra);
}

interface SshRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

async function ssh(
  keyName: string,
  login: string,
  command: string[],
  options: { input?: Buffer | string; inputFile?: string; extra?: string[]; timeout?: number } = {},
): Promise<SshRun> {
  const result = await execa('ssh', [...sshOptions(keyName, options.extra), `${login}@127.0.0.1`, ...command], {
    reject: false,
    encoding: 'buffer',
    timeout: options.timeout ?? 60_000,
    ...(options.inputFile
      ? { inputFile: options.inputFile }
      : options.input !== undefined
        ? { input: options.input }
        : { stdin: 'ignore' }),
  });
  return { code: result.exitCode ?? -1, stdout: Buffer.from(result.stdout), stderr: Buffer.from(result.stderr).toString('utf8') };
}

/** Waits (with a deadline) for a line of the daemon log: it is written after what the client sees. */
async function logged(what: string | RegExp): Promise<void> {
  await waitFor(`the daemon log to have ${what}`, async () => {
    const log = await daemonLog(h.home);
    return typeof what === 'string' ? log.includes(what) : what.test(log);
  });
}

const text = (r: SshRun) => r.stdout.toString('utf8').trim();
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function newUser(prefix: string, options: { image?: string; plan?: string; vm?: boolean } = {}): Promise<string> {
  const login = unique(prefix);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', key(login)]);
  expect((await run(['user', 'allow', login, ...(options.plan ? ['--plan', options.plan] : [])])).code).toBe(0);
  expect((await run(['user', 'key', 'add', login, '--file', `${key(login)}.pub`])).code).toBe(0);
  if (options.vm !== false) await berthJson(h.home, ['vm', 'create', login, ...(options.image ? ['--image', options.image] : [])]);
  return login;
}

async function ready(login: string): Promise<void> {
  await waitFor(
    `${login}'s VM to be ready`,
    async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
    30_000,
  );
}

async function vmProcesses(login: string, name = 'main'): Promise<string> {
  const ps = await docker
    .getContainer(await vmContainer(login, name))
    .exec({ Cmd: ['ps', '-eo', 'pid,args'], AttachStdout: true, AttachStderr: true });
  const stream = await ps.start({});
  let out = '';
  stream.on('data', (c: Buffer) => {
    out += c.toString('latin1');
  });
  await new Promise((r) => stream.on('end', r));
  return out;
}

async function sessions(): Promise<Array<{ id: string; user: string; vm: string; kind: string; command?: string }>> {
  return (
    await berthJson<{ sessions: Array<{ id: string; user: string; vm: string; kind: string; command?: string }> }>(h.home, [
      'ssh',
      'sessions',
    ])
  ).sessions;
}

beforeAll(async () => {
  h = await vmHome();
  keys = join(h.home, '..', 'keys');
  await execa('mkdir', ['-p', keys]);
  port = await freePort();
  expect((await run(['config', 'set', 'ssh.listen', `127.0.0.1:${port}`])).code).toBe(0);
  expect((await run(['plan', 'add', 'two', '--cpu', '0.5', '--ram', '256m', '--max-vms', '2'])).code).toBe(0);
  const start = await run(['daemon', 'start']);
  expect(start.code, start.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('the SSH gateway listener', () => {
  it('listens with an ed25519 host key made once (0600) and shows its fingerprint in daemon status', async () => {
    const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
    const ssh = status.components.find((c: { name: string }) => c.name === 'ssh');
    expect(ssh.state).toBe('running');
    const keyFile = join(h.home, 'ssh_host_ed25519_key');
    expect(((await stat(keyFile)).mode & 0o777).toString(8)).toBe('600');
    const fp = (await execa('ssh-keygen', ['-l', '-f', keyFile])).stdout.split(' ')[1];
    expect(ssh.detail).toContain(`127.0.0.1:${port}`);
    expect(ssh.detail).toContain(fp);
    // The client sees the same key.
    const scan = await execa('ssh-keyscan', ['-p', String(port), '-t', 'ed25519', '127.0.0.1'], { reject: false });
    const scanned = await execa('ssh-keygen', ['-l', '-f', '-'], { input: scan.stdout });
    expect(scanned.stdout).toContain(fp);
    // Restarted: the same key.
    await stopDaemonQuietly(h.home);
    expect((await run(['daemon', 'start'])).code).toBe(0);
    const again = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
    expect(again.components.find((c: { name: string }) => c.name === 'ssh').detail).toContain(fp);
  });
});

describe('sessions bridged to the user’s own VM', () => {
  let alice: string;
  beforeAll(async () => {
    alice = await newUser('a');
    await ready(alice);
  });

  it('runs a command as the VM user in their home, returns its exit code, keeps stderr apart', async () => {
    const r = await ssh(alice, alice, ['id -un; pwd; echo to-stderr >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(text(r)).toBe(`${alice}\n/home/${alice}`);
    expect(r.stderr.trim()).toBe('to-stderr');
    expect((await ssh(alice, alice, ['true'])).code).toBe(0);
  });

  it('passes stdin to EOF (ssh host wc -c < file) and 50 MB of binary data through cat unchanged', async () => {
    const small = join(keys, 'small.txt');
    await writeFile(small, 'one\ntwo\nthree\n');
    const wc = await ssh(alice, alice, ['wc', '-l'], { inputFile: small });
    expect(wc.code).toBe(0);
    expect(text(wc)).toBe('3');
    const data = randomBytes(50 * 1024 * 1024);
    const file = join(keys, 'big.bin');
    await writeFile(file, data);
    const cat = await ssh(alice, alice, ['cat'], { inputFile: file, timeout: 120_000 });
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout.length).toBe(data.length);
    expect(sha(cat.stdout)).toBe(sha(data));
  });

  it('passes LANG, LC_* and TERM from the client, and other variables only when ssh.accept-env names them', async () => {
    const env = { ...process.env, LANG: 'C.UTF-8', LC_TEST_X: 'yes', FOO_BAR: 'secret' };
    const sendEnv = ['-o', 'SendEnv=LANG LC_* FOO_BAR'];
    const probe = async () =>
      (
        await execa('ssh', [...sshOptions(alice, sendEnv), `${alice}@127.0.0.1`, 'echo "$LANG|$LC_TEST_X|$FOO_BAR"'], {
          env,
          reject: false,
          stdin: 'ignore',
        })
      ).stdout.trim();
    expect(await probe()).toBe('C.UTF-8|yes|');
    await run(['config', 'set', 'ssh.accept-env', 'FOO_BAR']);
    try {
      expect(await probe()).toBe('C.UTF-8|yes|secret');
    } finally {
      await run(['config', 'unset', 'ssh.accept-env']);
    }
  });

  it('a killed client leaves no process behind in the VM', async () => {
    const client = execa('ssh', [...sshOptions(alice), `${alice}@127.0.0.1`, 'sh -c "sleep 4242 & sleep 4343"'], {
      reject: false,
      stdin: 'ignore',
    });
    await waitFor('the command to run in the VM', async () => (await vmProcesses(alice)).includes('sleep 4343'));
    expect((await sessions()).some((s) => s.user === alice && s.kind === 'exec' && s.command?.includes('sleep 4343'))).toBe(true);
    client.kill('SIGKILL');
    await client;
    await waitFor('the processes to end', async () => !/sleep 4[23]4[23]/.test(await vmProcesses(alice)), 15_000);
    await waitFor('the session to be gone', async () => !(await sessions()).some((s) => s.user === alice));
    await logged(new RegExp(`"event":"ssh-session".*"user":"${alice}".*"kind":"exec".*"outcome":"disconnected"`));
  });

  it('berth ssh sessions lists an open session with its VM, and berth ssh kill ends it and its processes', async () => {
    const client = execa('ssh', [...sshOptions(alice), `${alice}@127.0.0.1`, 'sleep 4545'], { reject: false, stdin: 'ignore' });
    const open = await waitFor('the session to be listed', async () => (await sessions()).find((s) => s.command === 'sleep 4545'));
    expect(open).toMatchObject({ user: alice, vm: `${alice}/main`, kind: 'exec' });
    const listed = await run(['ssh', 'sessions']);
    expect(listed.stdout).toContain(open.id);
    const kill = await run(['ssh', 'kill', open.id]);
    expect(kill.code, kill.stderr).toBe(0);
    const ended = await client;
    expect(ended.exitCode).not.toBe(0);
    await waitFor('the process to end', async () => !(await vmProcesses(alice)).includes('sleep 4545'), 15_000);
    const again = await run(['ssh', 'kill', open.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no open SSH session');
    expect((await run(['ssh', 'kill', '../etc'])).code).toBe(2);
  });

  it('berth ssh sessions shows a command full of terminal escapes escaped, never raw', async () => {
    const hostile = 'sleep 4646; : \x1b]0;pwned\x07\x1b[2J\u202egnp.exe';
    const client = execa('ssh', [...sshOptions(alice), `${alice}@127.0.0.1`, hostile], { reject: false, stdin: 'ignore' });
    try {
      await waitFor('the session to be listed', async () => (await sessions()).find((s) => s.command?.startsWith('sleep 4646')));
      const listed = await run(['ssh', 'sessions']);
      expect(listed.stdout).toContain('\\x1b]0;pwned\\x07\\x1b[2J\\u202e');
      // biome-ignore lint/suspicious/noControlCharactersInRegex: raw control characters must not reach the terminal
      expect(listed.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    } finally {
      client.kill('SIGKILL');
      await client;
    }
  });

  it('berth ssh kill ends a session whose client reads nothing (its window at 0) within seconds', async () => {
    // The client's stdout is a pipe nobody reads: ssh stops reading the channel, its window closes.
    const client = spawn('ssh', [...sshOptions(alice), `${alice}@127.0.0.1`, 'yes berth-flood-4848'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const open = await waitFor('the session to be listed', async () =>
        (await sessions()).find((s) => s.command === 'yes berth-flood-4848'),
      );
      // Let the pipe, the client and the channel window fill up.
      await new Promise((r) => setTimeout(r, 1500));
      const kill = await run(['ssh', 'kill', open.id]);
      expect(kill.code, kill.stderr).toBe(0);
      await waitFor('the session to be gone', async () => !(await sessions()).some((s) => s.id === open.id), 10_000);
      await waitFor('the program to end', async () => !(await vmProcesses(alice)).includes('berth-flood-4848'), 10_000);
      await waitFor(
        'the audit line',
        async () => new RegExp(`"event":"ssh-session".*"id":"${open.id}".*"outcome":"killed"`).test(await daemonLog(h.home)),
        10_000,
      );
      // Its slot is free again: a new session works.
      expect(text(await ssh(alice, alice, ['echo', 'after']))).toBe('after');
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('counts sessions in /metrics', async () => {
    const { request } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      request({ socketPath: join(h.home, 'berth.sock'), path: '/metrics' }, (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve(b));
      })
        .on('error', reject)
        .end();
    });
    expect(body).toMatch(/berth_ssh_sessions_total\{kind="exec",outcome="ok"\} [1-9]/);
    expect(body).toContain('berth_ssh_sessions_active');
    expect(body).toMatch(/berth_ssh_bytes_total\{direction="in"\} [1-9]/);
  });

  it('holds ssh.max-sessions per connection and ssh.max-user-sessions per user, refusing with a reason', async () => {
    await run(['config', 'set', 'ssh.max-sessions', '2']);
    await run(['config', 'set', 'ssh.max-user-sessions', '3']);
    const { Client } = await import('ssh2');
    const clients: InstanceType<typeof Client>[] = [];
    const connectClient = () =>
      new Promise<InstanceType<typeof Client>>((resolve, reject) => {
        const c = new Client();
        clients.push(c);
        c.once('ready', () => resolve(c)).once('error', reject);
        c.connect({ host: '127.0.0.1', port, username: alice, privateKey: readFileSync(key(alice)) });
      });
    const open = (c: InstanceType<typeof Client>) =>
      new Promise<{ ok: true } | { ok: false; reason: number; message: string }>((resolve) =>
        c.exec('sleep 4747', (err) =>
          resolve(err ? { ok: false, reason: (err as { reason?: number }).reason ?? -1, message: err.message } : { ok: true }),
        ),
      );
    try {
      // 20 channels on one connection (as a ControlMaster, paramiko or asyncssh open them) would be
      // sshd's MaxSessions question: here at most 2 on one connection…
      const first = await connectClient();
      expect(await open(first)).toEqual({ ok: true });
      expect(await open(first)).toEqual({ ok: true });
      const third = await open(first);
      expect(third).toMatchObject({ ok: false, reason: 4 });
      expect(third.ok ? '' : third.message).toContain('at most 2 sessions on one connection (ssh.max-sessions)');
      // …and at most 3 for the user over all connections.
      const second = await connectClient();
      expect(await open(second)).toEqual({ ok: true });
      const fourth = await open(second);
      expect(fourth).toMatchObject({ ok: false, reason: 4 });
      expect(fourth.ok ? '' : fourth.message).toContain('ssh.max-user-sessions');
      // The real client says it too.
      const refused = await ssh(alice, alice, ['echo', 'more'], { extra: ['-o', 'LogLevel=INFO'] });
      expect(refused.code).toBe(255);
      expect(refused.stderr).toContain('resource shortage');
    } finally {
      for (const c of clients) c.end();
      await run(['config', 'unset', 'ssh.max-sessions']);
      await run(['config', 'unset', 'ssh.max-user-sessions']);
    }
    await waitFor('the sessions to end', async () => !(await sessions()).some((x) => x.command === 'sleep 4747'), 15_000);
  });

  it('says why a forward is refused: a forbidden destination is prohibited, a closed port in the VM refused', async () => {
    const { Client } = await import('ssh2');
    const c = new Client();
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve()).once('error', reject);
      c.connect({ host: '127.0.0.1', port, username: alice, privateKey: readFileSync(key(alice)) });
    });
    const forward = (host: string, to: number) =>
      new Promise<{ reason: number; message: string } | null>((resolve) =>
        c.forwardOut('127.0.0.1', 0, host, to, (err, stream) => {
          stream?.destroy();
          resolve(err ? { reason: (err as { reason?: number }).reason ?? -1, message: err.message } : null);
        }),
      );
    try {
      // Loopback only: nothing leaves this machine even if the gateway were wrong.
      expect(await forward('127.0.0.2', 80)).toMatchObject({ reason: 1, message: expect.stringContaining('only localhost:PORT') });
      expect(await forward('localhost', 1)).toMatchObject({ reason: 2, message: expect.stringContaining('Connection refused') });
    } finally {
      c.end();
    }
  });

  it('passes GIT_PROTOCOL by default, so git speaks protocol v2', async () => {
    const r = await ssh(alice, alice, ['echo', '"[$GIT_PROTOCOL]"'], { extra: ['-o', 'SetEnv=GIT_PROTOCOL=version=2'] });
    expect(text(r)).toBe('[version=2]');
  });

  it('closes a connection idle longer than ssh.idle-timeout, ending what it ran', async () => {
    await run(['config', 'set', 'ssh.idle-timeout', '2s']);
    try {
      const started = Date.now();
      const r = await ssh(alice, alice, ['sleep 4747'], { timeout: 30_000 });
      expect(r.code).toBe(255);
      expect(Date.now() - started).toBeLessThan(20_000);
      await waitFor('the process to end', async () => !(await vmProcesses(alice)).includes('sleep 4747'), 15_000);
    } finally {
      await run(['config', 'unset', 'ssh.idle-timeout']);
    }
  });

  it('starts a stopped VM on connect and says so on stderr', async () => {
    await berthJson(h.home, ['vm', 'stop', alice]);
    const r = await ssh(alice, alice, ['echo', 'up']);
    expect(r.code, r.stderr).toBe(0);
    expect(text(r)).toBe('up');
    expect(r.stderr).toMatch(/is stopped; starting it/);
    await run(['config', 'set', 'ssh.autostart', 'off']);
    try {
      await berthJson(h.home, ['vm', 'stop', alice]);
      const off = await ssh(alice, alice, ['echo', 'up']);
      expect(off.code).toBe(1);
      expect(off.stderr).toContain('is stopped');
    } finally {
      await run(['config', 'unset', 'ssh.autostart']);
    }
  });
});

describe('who gets in', () => {
  let bob: string;
  let carol: string;
  beforeAll(async () => {
    bob = await newUser('b', { plan: 'two' });
    carol = await newUser('c');
    await ready(bob);
  });

  it('alice+NAME picks one of several VMs; a bare login with several VMs is told to pick', async () => {
    await berthJson(h.home, ['vm', 'create', bob, '--name', 'web']);
    await ready(`${bob}/web`);
    const web = await ssh(bob, `${bob}+web`, ['hostname']);
    expect(web.code, web.stderr).toBe(0);
    const main = await ssh(bob, `${bob}+main`, ['hostname']);
    expect(text(web)).not.toBe(text(main));
    const bare = await ssh(bob, bob, ['true']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain(`${bob}+main`);
    const missing = await ssh(bob, `${bob}+nope`, ['true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`There is no VM ${bob}/nope`);
    expect(missing.stderr).toContain(`connect as ${bob}+main`);
  });

  it('creates a VM for a user with none when ssh.autocreate is on, and gives the ssh line for the bot', async () => {
    const fresh = await newUser('f', { vm: false });
    const none = await ssh(fresh, fresh, ['true']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('has no VM yet');
    await run(['config', 'set', 'ssh.autocreate', 'on']);
    try {
      const r = await ssh(fresh, fresh, ['id', '-un'], { timeout: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(text(r)).toBe(fresh);
      expect(r.stderr).toContain('creating one');
    } finally {
      await run(['config', 'unset', 'ssh.autocreate']);
    }
    const { openBerth } = await import('../../src/services/engine/open.js');
    const { sshConnectInfo } = await import('../../src/services/access/ssh-access.js');
    await run(['config', 'set', 'ssh.public-host', 'dev.example.com']);
    try {
      const info = await sshConnectInfo(openBerth(h.home), fresh);
      expect(info.command).toBe(`ssh -p ${port} ${fresh}@dev.example.com`);
      expect(info.vms).toEqual([{ vm: `${fresh}/main`, command: info.command }]);
      expect(info.hostKeyFingerprint).toMatch(/^SHA256:/);
      const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
      expect(status.components.find((c: { name: string }) => c.name === 'ssh').detail).toContain(info.hostKeyFingerprint);
    } finally {
      await run(['config', 'unset', 'ssh.public-host']);
    }
  });

  it('refuses a wrong key, an unknown user, another user’s login or +NAME, and a revoked user — all alike', async () => {
    const refused = async (keyName: string, login: string) => {
      const r = await ssh(keyName, login, ['echo', 'in']);
      expect(r.code).toBe(255);
      expect(text(r)).toBe('');
      expect(r.stderr).toContain('Permission denied (publickey)');
      return r.stderr;
    };
    const shapes = [
      await refused(carol, bob), // carol's key, bob's login
      await refused(carol, `${bob}+web`), // carol's key, bob's VM
      await refused(carol, 'nosuchuser'),
      await refused(carol, 'Root-x'),
    ];
    expect(new Set(shapes.map((s) => s.replace(/\S+@127\.0\.0\.1/, 'X'))).size).toBe(1);
    expect((await ssh(carol, carol, ['echo', 'in'])).code).toBe(0);
    expect((await run(['user', 'revoke', carol])).code).toBe(0);
    await refused(carol, carol);
    await logged(/"reason":"not-allowed".*"msg":"ssh login refused"/);
  });

  it('during maintenance, refuses non-admins with a banner saying why and until when; admins get in', async () => {
    const admin = await newUser('m', { vm: true });
    await run(['user', 'set', admin, '--role', 'admin']);
    await ready(admin);
    expect((await run(['maintenance', 'on', '--reason', 'kernel upgrade'])).code).toBe(0);
    try {
      // The VMs were stopped by maintenance; an admin starts theirs by connecting.
      // The banner shows at ssh's default log level (INFO).
      const r = await ssh(bob, `${bob}+main`, ['echo', 'in'], { extra: ['-o', 'LogLevel=INFO'] });
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('berth is in maintenance (kernel upgrade)');
      expect(r.stderr).toContain('only admins can log in');
      const a = await ssh(admin, admin, ['echo', 'in']);
      expect(a.code, a.stderr).toBe(0);
      expect(text(a)).toBe('in');
    } finally {
      await run(['maintenance', 'off', '--no-restore']);
    }
  });

  it('bans an address after ssh.auth-rate failed logins in a minute, for ssh.ban', async () => {
    await run(['config', 'set', 'ssh.auth-rate', '3']);
    try {
      const from = ['-o', 'BindAddress=127.0.0.9'];
      for (let i = 0; i < 4; i++) expect((await ssh(bob, 'nosuchuser', ['true'], { extra: from })).code).toBe(255);
      await waitFor('the ban to be logged', async () => (await daemonLog(h.home)).includes('too many failed logins'));
      // Now even the right key is refused from there, while other addresses still get in.
      const banned = await ssh(bob, `${bob}+main`, ['echo', 'in'], { extra: from });
      expect(banned.code).toBe(255);
      expect(text(banned)).toBe('');
      expect(text(await ssh(bob, `${bob}+main`, ['echo', 'in']))).toBe('in');
      // Each refused attempt counts, not each connection: one connection offering four keys
      // that are not bob's gets its address banned.
      const strays: string[] = [];
      for (let i = 0; i < 4; i++) {
        const file = join(keys, `stray-${i}`);
        await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
        strays.push('-i', file);
      }
      const other = ['-o', 'BindAddress=127.0.0.10'];
      expect((await ssh(bob, `${bob}+main`, ['true'], { extra: [...other, ...strays] })).code).toBe(255);
      const after = await ssh(bob, `${bob}+main`, ['echo', 'in'], { extra: other });
      expect(after.code).toBe(255);
      expect(text(after)).toBe('');
    } finally {
      await run(['config', 'unset', 'ssh.auth-rate']);
    }
  });

  it('survives garbage, half handshakes and many channels', async () => {
    const { connect } = await import('node:net');
    for (const payload of [
      randomBytes(4096),
      Buffer.from('SSH-2.0-x\r\n'),
      Buffer.concat([Buffer.from('SSH-2.0-x\r\n'), randomBytes(70000)]),
    ]) {
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(payload));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    }
    // Many sessions over one connection (multiplexed): the limit refuses what is over it, nothing breaks.
    const control = join(keys, 'ctl-%C');
    const mux = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=20'];
    const results = await Promise.all(Array.from({ length: 30 }, () => ssh(bob, `${bob}+main`, ['echo', 'ok'], { extra: mux })));
    expect(results.filter((r) => text(r) === 'ok').length).toBeGreaterThan(0);
    await execa('ssh', [...sshOptions(bob, mux), '-O', 'exit', `${bob}+main@127.0.0.1`], { reject: false });
    expect(text(await ssh(bob, `${bob}+main`, ['echo', 'still-here']))).toBe('still-here');
    expect(
      JSON.parse((await run(['daemon', 'status', '--json'])).stdout).components.find((c: { name: string }) => c.name === 'ssh').state,
    ).toBe('running');
  });
});

describe('withdrawn access acts on live sessions at once', () => {
  /** An ssh client running `command`, and its exit. */
  function hold(keyName: string, login: string, command = 'sleep 120') {
    const child = spawn('ssh', [...sshOptions(keyName), `${login}@127.0.0.1`, command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    return { child, exited, stderr: () => stderr, done: () => done };
  }
  const opened = (login: string, n = 1) =>
    waitFor(`${n} session(s) of ${login}`, async () => (await sessions()).filter((x) => x.user === login).length >= n, 30_000);

  it("a revoked user's open ssh -tt shell is closed within seconds, with a word why, and their VM stopped", async () => {
    const gina = await newUser('g');
    await ready(gina);
    const session = unique('berth-revoke-');
    const { shows } = pane(session);
    const cmd = ['ssh', '-tt', ...sshOptions(gina), `${gina}@127.0.0.1`].join(' ');
    await tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${cmd}; echo SSH-ENDED $?; sleep 30`);
    try {
      await opened(gina);
      await tmux('send-keys', '-t', session, 'echo still-here', 'Enter');
      await shows(/^still-here/m);
      const revoked = await run(['user', 'revoke', gina, '--json']);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(JSON.parse(revoked.stdout).stoppedVms).toEqual([`${gina}/main`]);
      await shows(/your access was revoked/, 'the reason', 15_000);
      await shows(/SSH-ENDED/, 'the client to end', 15_000);
    } finally {
      await tmux('kill-session', '-t', session).catch(() => undefined);
    }
    const vm = await berthJson<{ desired: string; stopReason: string }>(h.home, ['vm', 'show', gina]);
    expect(vm).toMatchObject({ desired: 'stopped', stopReason: 'revoked' });
    const { events } = await state(h.home);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'access', user: gina, reason: 'revoked by operator' }),
        expect.objectContaining({ kind: 'revoke-stop', user: gina, reason: 'operator' }),
      ]),
    );
    await logged(new RegExp(`"user":"${gina}".*"reason":"your access was revoked".*connection closed`));
  });

  it('a key removal closes only the connections made with that key; a role change closes them all', async () => {
    const hank = await newUser('h');
    await ready(hank);
    const second = `${hank}-2`;
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', second, '-f', key(second)]);
    expect((await run(['user', 'key', 'add', hank, '--file', `${key(second)}.pub`])).code).toBe(0);
    const first = hold(hank, hank);
    const other = hold(second, hank);
    await opened(hank, 2);
    const fp = (await execa('ssh-keygen', ['-l', '-f', `${key(hank)}.pub`])).stdout.split(' ')[1] as string;
    expect((await run(['user', 'key', 'remove', hank, fp])).code).toBe(0);
    expect(await waitFor('the first connection to close', async () => first.done(), 15_000)).toBe(true);
    expect(first.stderr()).toContain('the SSH key you logged in with was removed');
    expect(other.done()).toBe(false);
    expect((await sessions()).filter((x) => x.user === hank)).toHaveLength(1);
    expect((await run(['user', 'set', hank, '--role', 'admin'])).code).toBe(0);
    expect(await waitFor('the other connection to close', async () => other.done(), 15_000)).toBe(true);
    expect(other.stderr()).toContain('your role changed');
  });

  it("an admin's login reaches only its own VMs, by any name", async () => {
    const ivy = await newUser('i');
    const jim = await newUser('j');
    expect((await run(['user', 'set', ivy, '--role', 'admin'])).code).toBe(0);
    await ready(jim);
    const own = await ssh(ivy, ivy, ['echo', 'mine']);
    expect(own.code, own.stderr).toBe(0);
    for (const login of [`${ivy}+${jim}`, `${ivy}+main/../${jim}`, jim, `${jim}+main`]) {
      const r = await ssh(ivy, login, ['echo', 'in']);
      expect(r.code, login).not.toBe(0);
      expect(text(r), login).toBe('');
    }
  });
});

describe('a Debian VM: terminal, sftp, scp and port forwarding', () => {
  let dana: string;
  let erin: string;
  beforeAll(async () => {
    await debianImage(h.home);
    dana = await newUser('d', { image: DEBIAN_IMAGE });
    erin = await newUser('e', { image: DEBIAN_IMAGE });
    await ready(dana);
    await ready(erin);
  }, 900_000);

  it('ssh -tt gives a login shell with a prompt in a terminal that follows resizes', async () => {
    const session = unique('berth-ssh-');
    const { screen, shows } = pane(session);
    const cmd = ['ssh', '-tt', ...sshOptions(dana), `${dana}@127.0.0.1`].join(' ');
    await tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${cmd}; echo SSH-ENDED $?; sleep 30`);
    try {
      await shows(new RegExp(`${dana}@.*\\$`));
      for (let i = 0; i < 10 && !/^24 80$/m.test(await screen()); i++) {
        await tmux('send-keys', '-t', session, 'stty size', 'Enter');
        await new Promise((r) => setTimeout(r, 400));
      }
      await shows(/^24 80$/m);
      await tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
      for (let i = 0; i < 10 && !/^30 100$/m.test(await screen()); i++) {
        await tmux('send-keys', '-t', session, 'clear; stty size; echo $TERM', 'Enter');
        await new Promise((r) => setTimeout(r, 400));
      }
      await shows(/^30 100$/m);
      await tmux('send-keys', '-t', session, 'exit 7', 'Enter');
      await shows(/SSH-ENDED 7/);
    } finally {
      await tmux('kill-session', '-t', session).catch(() => undefined);
    }
  });

  it('sftp and scp (SFTP-based and legacy) copy files both ways', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const local = join(keys, 'up.bin');
    await writeFile(local, data);
    const opts = sshOptions(dana).map((o) => (o === '-p' ? '-P' : o));
    const target = `${dana}@127.0.0.1`;
    const scp = await execa('scp', [...opts, local, `${target}:up-scp.bin`], { reject: false });
    expect(scp.exitCode, scp.stderr).toBe(0);
    const legacy = await execa('scp', ['-O', ...opts, `${target}:up-scp.bin`, join(keys, 'down-legacy.bin')], { reject: false });
    expect(legacy.exitCode, legacy.stderr).toBe(0);
    expect(sha(await readFile(join(keys, 'down-legacy.bin')))).toBe(sha(data));
    const batch = join(keys, 'batch');
    await writeFile(
      batch,
      `put ${local} up-sftp.bin\nmkdir dir\nrename up-sftp.bin dir/moved.bin\nget dir/moved.bin ${join(keys, 'down-sftp.bin')}\nls dir\n`,
    );
    const sftp = await execa('sftp', [...opts, '-b', batch, target], { reject: false });
    expect(sftp.exitCode, sftp.stderr).toBe(0);
    expect(sha(await readFile(join(keys, 'down-sftp.bin')))).toBe(sha(data));
    const owner = await ssh(dana, dana, ['stat -c %U dir/moved.bin']);
    expect(text(owner)).toBe(dana);
  });

  it('ssh -L reaches a server in the user’s own VM; another VM, the host or anywhere else is refused', async () => {
    const server = execa(
      'ssh',
      [...sshOptions(dana), `${dana}@127.0.0.1`, 'cd /tmp && echo hello-from-vm > index.html && exec python3 -m http.server 8765'],
      {
        reject: false,
        stdin: 'ignore',
      },
    );
    const erinIp = (await docker.getContainer(await vmContainer(erin)).inspect()).NetworkSettings.Networks[h.network]?.IPAddress;
    const forward = async (dest: string) => {
      const local = await freePort();
      const tunnel = execa(
        'ssh',
        [...sshOptions(dana, ['-N', '-L', `${local}:${dest}`, '-o', 'ExitOnForwardFailure=yes']), `${dana}@127.0.0.1`],
        {
          reject: false,
          stdin: 'ignore',
        },
      );
      try {
        const { connect } = await import('node:net');
        await waitFor(
          'the tunnel to listen',
          () =>
            new Promise<boolean>((resolve) => {
              const c = connect(local, '127.0.0.1', () => {
                c.destroy();
                resolve(true);
              });
              c.on('error', () => resolve(false));
            }),
        );
        return await fetch(`http://127.0.0.1:${local}/index.html`, { signal: AbortSignal.timeout(5000) }).then(
          async (r) => r.text(),
          () => 'refused',
        );
      } finally {
        tunnel.kill();
        await tunnel;
      }
    };
    try {
      await waitFor(
        'the server in the VM',
        async () =>
          (
            await ssh(dana, dana, [
              'python3',
              '-c',
              '"import urllib.request as u; print(u.urlopen(\'http://127.0.0.1:8765/index.html\').read().decode())"',
            ])
          ).code === 0,
        20_000,
      );
      expect((await forward('localhost:8765')).trim()).toBe('hello-from-vm');
      expect(await forward(`${erinIp}:8765`)).toBe('refused');
      expect(await forward('172.17.0.1:8765')).toBe('refused');
      expect(await forward('example.com:80')).toBe('refused');
      await logged('ssh forward refused');
    } finally {
      server.kill();
      await server;
    }
  });

  it('sends exit-signal when a signal ends the command, exit-status when it exits 143', async () => {
    // OpenSSH's ssh has no exit code for a signal (255); -v shows which message came.
    const killed = await ssh(dana, dana, ['kill -TERM $$'], { extra: ['-v'] });
    expect(killed.code).toBe(255);
    expect(killed.stderr).toMatch(/rtype exit-signal/);
    expect(killed.stderr).not.toMatch(/rtype exit-status/);
    const plain = await ssh(dana, dana, ['exit 143'], { extra: ['-v'] });
    expect(plain.code).toBe(143);
    expect(plain.stderr).not.toMatch(/rtype exit-signal/);
    // Which signal, through ssh2's client.
    const { Client } = await import('ssh2');
    const exit = await new Promise<unknown[]>((resolve, reject) => {
      const c = new Client();
      c.on('ready', () =>
        c.exec('kill -USR1 $$', (err, stream) => {
          if (err) return reject(err);
          stream.on('exit', (...args: unknown[]) => resolve(args));
          stream.on('close', () => c.end());
          stream.resume();
          stream.stderr.resume();
        }),
      );
      c.on('error', reject);
      c.connect({ host: '127.0.0.1', port, username: dana, privateKey: readFileSync(key(dana)) });
    });
    expect(exit.slice(0, 3)).toEqual([null, 'SIGUSR1', false]);
    // A signal RFC 4254 has no name for stays an exit code (128+n), and the session is audited.
    const bus = await ssh(dana, dana, ['kill -BUS $$'], { extra: ['-v'] });
    expect(bus.code).toBe(135);
    expect(bus.stderr).toMatch(/rtype exit-status/);
    await waitFor('the audit line', async () =>
      new RegExp(`"event":"ssh-session".*"user":"${dana}".*"command":"kill -BUS \\$\\$".*"exitCode":135`).test(await daemonLog(h.home)),
    );
  });

  it('a killed client with a terminal leaves no process behind (the shell runs under the VM helper)', async () => {
    // An interactive shell has job control: what it runs is in a process group of its own.
    const client = execa('ssh', ['-tt', ...sshOptions(dana), `${dana}@127.0.0.1`], { reject: false, stdin: 'pipe' });
    client.stdin?.write('sleep 4747\n');
    await waitFor('the command to run in the VM', async () => (await vmProcesses(dana)).includes('sleep 4747'));
    expect(await vmProcesses(dana)).toContain('vm-helper run');
    client.kill('SIGKILL');
    await client;
    await waitFor('the processes to end', async () => !/sleep 4747|vm-helper/.test(await vmProcesses(dana)), 15_000);
  });

  // A TCP server on the client's side answering each connection with a line.
  async function clientServer(reply: string): Promise<{ port: number; close: () => void }> {
    const server = createNetServer((c) => {
      c.on('error', () => undefined);
      c.end(`${reply}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port, close: () => server.close() };
  }

  // Reads a line from 127.0.0.1:PORT in the VM, retrying until the forward is up; N at once.
  const VM_FETCH = `import socket, sys, time, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
out = []
def one():
    for _ in range(100):
        try:
            s = socket.create_connection(('127.0.0.1', port), timeout=5)
            out.append(s.makefile().readline().strip())
            return
        except OSError:
            time.sleep(0.1)
    out.append('unreachable')
threads = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in threads]
[t.join() for t in threads]
print(' '.join(sorted(out)))
`;

  it('ssh -R is refused unless ssh.allow-remote-forward is on; then the VM’s 127.0.0.1:PORT reaches the client', async () => {
    const target = await clientServer('hello-from-client');
    const vmPort = 20_000 + Math.floor(Math.random() * 20_000);
    try {
      const refused = await ssh(dana, dana, ['true'], {
        extra: ['-o', 'ExitOnForwardFailure=yes', '-R', `${vmPort}:127.0.0.1:${target.port}`],
      });
      expect(refused.code).toBe(255);
      expect(refused.stderr).toMatch(/remote port forwarding failed/);
      await logged('ssh remote forward refused');

      await run(['config', 'set', 'ssh.allow-remote-forward', 'on']);
      const fetched = await ssh(dana, dana, ['python3', '-', String(vmPort), '3'], {
        input: VM_FETCH,
        extra: ['-o', 'ExitOnForwardFailure=yes', '-R', `${vmPort}:127.0.0.1:${target.port}`],
      });
      expect(fetched.code, fetched.stderr).toBe(0);
      expect(text(fetched)).toBe('hello-from-client hello-from-client hello-from-client');
      await logged(new RegExp(`"event":"ssh-session".*"user":"${dana}".*"kind":"remote-forward"`));

      // Port 0: the VM picks one and the client is told which.
      // (The command waits for the listener, so that the client is still there for the reply.)
      const any = await ssh(
        dana,
        dana,
        ['for i in $(seq 100); do pgrep -f "vm-helper listen" >/dev/null && break; sleep 0.1; done; sleep 1'],
        {
          extra: ['-o', 'LogLevel=INFO', '-R', `0:127.0.0.1:${target.port}`],
        },
      );
      expect(any.stderr).toMatch(/Allocated port \d+ for remote forward/);

      // A forward lives as long as its connection, is listed as a session, and only the VM's
      // loopback has it: another VM cannot reach it at the VM's address.
      const tunnel = execa('ssh', [...sshOptions(dana, ['-N', '-R', `${vmPort}:127.0.0.1:${target.port}`]), `${dana}@127.0.0.1`], {
        reject: false,
        stdin: 'ignore',
      });
      try {
        await waitFor('the forward to be listed', async () =>
          (await sessions()).some((s) => s.user === dana && s.kind === 'remote-forward'),
        );
        const listed = (await sessions()).find((s) => s.user === dana && s.kind === 'remote-forward');
        expect(listed?.command).toBe(`127.0.0.1:${vmPort}`);
        const danaIp = (await docker.getContainer(await vmContainer(dana)).inspect()).NetworkSettings.Networks[h.network]?.IPAddress;
        expect(danaIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        const reach = (host: string) =>
          ssh(dana, dana, ['python3', '-c', `"import socket; socket.create_connection(('${host}', ${vmPort}), timeout=3)"`]);
        expect((await reach('127.0.0.1')).code).toBe(0);
        expect((await reach(danaIp as string)).code).not.toBe(0);
      } finally {
        tunnel.kill('SIGKILL');
        await tunnel;
      }
      await waitFor('the forward to be gone', async () => !(await sessions()).some((s) => s.user === dana && s.kind === 'remote-forward'));
      await waitFor('its listener in the VM to end', async () => !(await vmProcesses(dana)).includes('vm-helper listen'), 15_000);

      // Privileged ports are refused even when -R is on: the VM's user is not root.
      const low = await ssh(dana, dana, ['true'], { extra: ['-o', 'ExitOnForwardFailure=yes', '-R', `80:127.0.0.1:${target.port}`] });
      expect(low.code).toBe(255);
      expect(low.stderr).toMatch(/remote port forwarding failed/);
    } finally {
      await run(['config', 'unset', 'ssh.allow-remote-forward']);
      target.close();
    }
  });

  it('ssh -R carries each half of a connection on its own: EOF from the VM, then the client’s answer', async () => {
    // The client's side reads to EOF, then answers: only works if the VM's EOF gets through
    // while the way back stays open.
    const server = createNetServer((c) => {
      let got = '';
      c.on('data', (d: Buffer) => {
        got += d.toString();
      });
      c.on('end', () => c.end(`got:${got}\n`));
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const target = (server.address() as { port: number }).port;
    const vmPort = 20_000 + Math.floor(Math.random() * 20_000);
    const HALF_CLOSE = `import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
        break
    except OSError:
        time.sleep(0.1)
s.sendall(b'ping')
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip())
`;
    await run(['config', 'set', 'ssh.allow-remote-forward', 'on']);
    try {
      const r = await ssh(dana, dana, ['python3', '-', String(vmPort)], {
        input: HALF_CLOSE,
        extra: ['-o', 'ExitOnForwardFailure=yes', '-R', `${vmPort}:127.0.0.1:${target}`],
      });
      expect(r.code, r.stderr).toBe(0);
      expect(text(r)).toBe('got:ping');
    } finally {
      await run(['config', 'unset', 'ssh.allow-remote-forward']);
      server.close();
    }
  });

  it('ssh -A is refused unless ssh.allow-agent is on; then ssh-add in the VM lists the client’s keys', async () => {
    const agentSock = join(keys, `agent-${unique('a')}.sock`);
    const agent = execa('ssh-agent', ['-D', '-a', agentSock], { reject: false, stdin: 'ignore' });
    try {
      await waitFor('the agent', async () => (await stat(agentSock).catch(() => null)) !== null);
      const env = { SSH_AUTH_SOCK: agentSock };
      expect((await execa('ssh-add', [key(dana)], { env, reject: false })).exitCode).toBe(0);
      const fp = (await execa('ssh-keygen', ['-l', '-f', key(dana)])).stdout.split(' ')[1] as string;
      const withAgent = (cmd: string) =>
        execa('ssh', [...sshOptions(dana, ['-A']), `${dana}@127.0.0.1`, cmd], { env, reject: false, stdin: 'ignore' });

      const off = await withAgent('echo "sock=$SSH_AUTH_SOCK"');
      expect(off.stdout.trim()).toBe('sock=');

      await run(['config', 'set', 'ssh.allow-agent', 'on']);
      const on = await withAgent('ssh-add -l; stat -c %a "$(dirname "$SSH_AUTH_SOCK")"');
      expect(on.exitCode, on.stderr).toBe(0);
      expect(on.stdout).toContain(fp);
      expect(on.stdout.trim().split('\n').pop()).toBe('700');
      await waitFor('the agent listener to end', async () => !(await vmProcesses(dana)).includes('vm-helper listen'), 15_000);
    } finally {
      await run(['config', 'unset', 'ssh.allow-agent']);
      agent.kill();
      await agent;
    }
  });

  it('ssh -Y is refused unless ssh.allow-x11 is on; then an X client in the VM reaches the client’s display', async () => {
    // A stand-in X server on the client's side: it records the connection setup and answers.
    let setup = Buffer.alloc(0);
    const xserver = createNetServer((c) => {
      c.on('error', () => undefined);
      c.once('data', (d: Buffer) => {
        setup = d;
        c.end('X11-REPLY\n');
      });
    });
    let display = 0;
    for (display = 40; display < 90; display++) {
      const ok = await new Promise<boolean>((resolve) => {
        xserver.once('error', () => resolve(false));
        xserver.listen(6000 + display, '127.0.0.1', () => resolve(true));
      });
      if (ok) break;
    }
    // An X11 connection setup (little-endian, 11.0) with the cookie xauth holds for $DISPLAY.
    const X_CLIENT = `import os, socket, struct, subprocess
display = os.environ['DISPLAY']
number = int(display.split(':')[1].split('.')[0])
name, cookie = subprocess.run(['xauth', 'list', display], capture_output=True, text=True).stdout.split()[1:3]
data, proto = bytes.fromhex(cookie), name.encode()
pad = lambda b: b + b'\\0' * (-len(b) % 4)
s = socket.create_connection(('127.0.0.1', 6000 + number))
s.sendall(b'l\\0' + struct.pack('<HHHH', 11, 0, len(proto), len(data)) + b'\\0\\0' + pad(proto) + pad(data))
print(display, s.makefile().readline().strip())
`;
    const x11 = (input?: string) =>
      execa('ssh', [...sshOptions(dana, ['-Y']), `${dana}@127.0.0.1`, input ? 'python3 -' : 'echo "display=$DISPLAY"'], {
        env: { DISPLAY: `127.0.0.1:${display}` },
        reject: false,
        ...(input ? { input } : { stdin: 'ignore' as const }),
      });
    try {
      expect((await x11()).stdout.trim()).toBe('display=');
      await run(['config', 'set', 'ssh.allow-x11', 'on']);
      const on = await x11(X_CLIENT);
      expect(on.exitCode, on.stderr).toBe(0);
      expect(on.stdout.trim()).toMatch(/^localhost:\d+\.0 X11-REPLY$/);
      expect(setup.subarray(0, 4)).toEqual(Buffer.from([0x6c, 0, 11, 0]));
    } finally {
      await run(['config', 'unset', 'ssh.allow-x11']);
      xserver.close();
    }
  });
});

describe('ssh -L to a stopped VM', () => {
  // A VM image that listens on port 8765 from boot (busybox nc), so that the forward's connect
  // succeeds as soon as the VM is up: the open would complete after the client left.
  const LISTEN_IMAGE = 'berth-vm-ssh-listen-test:latest';
  let frank: string;
  beforeAll(async () => {
    const dir = join(keys, 'listen-image');
    await execa('mkdir', ['-p', dir]);
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        `FROM ${MINIMAL_IMAGE}`,
        'LABEL dev.berth.test=ssh-gateway',
        'RUN printf \'#!/bin/sh\\n(busybox nc -ll -p 8765 -e echo hello-at-boot &)\\nexec /usr/local/sbin/berth-entrypoint "$@"\\n\' >/usr/local/sbin/listen-entrypoint && chmod 755 /usr/local/sbin/listen-entrypoint',
        'ENTRYPOINT ["/usr/local/sbin/listen-entrypoint"]',
        '',
      ].join('\n'),
    );
    await execa('docker', ['build', '-q', '--network', 'none', '-t', LISTEN_IMAGE, dir]);
    frank = await newUser('f', { image: LISTEN_IMAGE });
    await ready(frank);
  }, 300_000);

  it('a client that leaves while the VM starts leaves no forward session behind', async () => {
    await berthJson(h.home, ['vm', 'stop', frank]);
    const local = await freePort();
    const tunnel = execa('ssh', [...sshOptions(frank, ['-N', '-L', `${local}:localhost:8765`]), `${frank}@127.0.0.1`], {
      reject: false,
      stdin: 'ignore',
    });
    try {
      // The tunnel's listener is up once a local connection is taken; that connection's open
      // makes the gateway start the VM.
      const conn = await waitFor('the local end of the tunnel', async () => {
        return await new Promise<ReturnType<typeof netConnect> | null>((resolve) => {
          const c = netConnect(local, '127.0.0.1', () => resolve(c));
          c.on('error', () => resolve(null));
        });
      });
      conn.on('error', () => undefined);
      const container = docker.getContainer(await vmContainer(frank));
      await waitFor('the VM to be starting', async () => (await container.inspect()).State.Running, 30_000);
      tunnel.kill('SIGKILL');
      await tunnel;
      conn.destroy();
      await waitFor(
        'the VM to be ready',
        async () => (await run(['vm', 'exec', frank, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
      );
      // The open finished (or was given up) after the client left: nothing listed, the slot free.
      await new Promise((r) => setTimeout(r, 2000));
      expect((await sessions()).filter((s) => s.user === frank)).toEqual([]);
      await run(['config', 'set', 'ssh.max-sessions', '1']);
      try {
        expect(text(await ssh(frank, frank, ['echo', 'in']))).toBe('in');
      } finally {
        await run(['config', 'unset', 'ssh.max-sessions']);
      }
    } finally {
      tunnel.kill('SIGKILL');
    }
  });
});
