import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SessionRegistry } from '../../daemon/sessions.js';
import { AuthRateLimit, PreAuthSlots, sourceKey } from '../../daemon/ssh/rate-limit.js';
import { demuxExecStream } from '../../src/docker/exec-stream.js';
import { parseX11, remoteForwardPortAllowed } from '../../src/domain/ssh-forwarding.js';
import { parseGatewayLogin } from '../../src/domain/ssh-login.js';
import { vmHelper } from '../../src/services/access/ssh-access.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { acceptClientEnv, isReservedEnvName } from '../../src/values/ssh-env.js';

describe('gateway logins', () => {
  it('reads alice and alice+NAME', () => {
    expect(parseGatewayLogin('alice')).toEqual({ login: 'alice' });
    expect(parseGatewayLogin('alice+web')).toEqual({ login: 'alice', vm: 'web' });
    expect(parseGatewayLogin('al-ice+web-2')).toEqual({ login: 'al-ice', vm: 'web-2' });
  });

  it('refuses anything else, hostile or malformed', () => {
    for (const bad of [
      '',
      'a',
      'Alice',
      'alice+',
      '+web',
      'alice+web+x',
      'alice/web',
      'alice+Web',
      'alice+../x',
      'root;id',
      'alice\n',
      `${'a'.repeat(90)}`,
      'аlice',
    ]) {
      expect(parseGatewayLogin(bad), bad).toBeNull();
    }
  });
});

describe('the failed-login rate limit', () => {
  it('bans an address after more than N failures in a minute, and only that address', async () => {
    const limit = new AuthRateLimit();
    for (let i = 0; i < 3; i++) expect(await limit.fail('10.0.0.1', 3, 60)).toBe(false);
    expect(await limit.banned('10.0.0.1', 3, 60)).toBe(false);
    expect(await limit.fail('10.0.0.1', 3, 60)).toBe(true);
    expect(await limit.banned('10.0.0.1', 3, 60)).toBe(true);
    expect(await limit.banned('10.0.0.2', 3, 60)).toBe(false);
  });

  it('lifts the ban after the ban time', async () => {
    const limit = new AuthRateLimit();
    for (let i = 0; i < 2; i++) await limit.fail('10.0.0.3', 1, 1);
    expect(await limit.banned('10.0.0.3', 1, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await limit.banned('10.0.0.3', 1, 1)).toBe(false);
  });
});

describe('the session registry', () => {
  it('holds at most max open channels per user and counts sessions per VM', () => {
    const r = new SessionRegistry();
    expect(r.reserve('alice', 2)).toBe(true);
    expect(r.reserve('alice', 2)).toBe(true);
    expect(r.reserve('alice', 2)).toBe(false);
    expect(r.reserve('bob', 2)).toBe(true);
    r.release('alice');
    expect(r.reserve('alice', 2)).toBe(true);
    const base = {
      user: 'alice',
      fingerprint: 'SHA256:x',
      source: '127.0.0.1',
      startedAt: '',
      bytesIn: 0,
      bytesOut: 0,
      kill: () => undefined,
    };
    r.add({ ...base, id: 'a1', vm: 'alice/main', kind: 'shell' });
    r.add({ ...base, id: 'a2', vm: 'alice/main', kind: 'exec', command: 'ls' });
    expect(r.countForVm('alice/main')).toBe(2);
    expect(r.countForVm('alice/web')).toBe(0);
    expect(r.list().map((s) => s.id)).toEqual(['a1', 'a2']);
    expect(Object.keys(r.list()[0] ?? {})).not.toContain('kill');
  });
});

describe("splitting Docker's exec stream", () => {
  const frame = (type: number, data: Buffer) => {
    const header = Buffer.alloc(8);
    header[0] = type;
    header.writeUInt32BE(data.length, 4);
    return Buffer.concat([header, data]);
  };

  it('keeps stdout and stderr apart, byte for byte, across any chunking', async () => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sink = (into: Buffer[]) =>
      new Writable({
        write(chunk, _e, done) {
          into.push(chunk);
          done();
        },
      });
    const source = new PassThrough();
    const done = demuxExecStream(source, sink(out), sink(err));
    const a = Buffer.from([0, 1, 2, 255, 10, 13]);
    const b = Buffer.from('err\n');
    const whole = Buffer.concat([frame(1, a), frame(2, b), frame(1, a)]);
    for (let i = 0; i < whole.length; i += 3) source.write(whole.subarray(i, i + 3));
    source.end();
    await done;
    expect(Buffer.concat(out)).toEqual(Buffer.concat([a, a]));
    expect(Buffer.concat(err).toString()).toBe('err\n');
  });

  it('pauses the source while a side is full', async () => {
    const source = new PassThrough();
    let release: (() => void) | undefined;
    const slow = new Writable({
      highWaterMark: 4,
      write(_chunk, _e, done) {
        release = done;
      },
    });
    const drop = new Writable({ write: (_c, _e, done) => done() });
    void demuxExecStream(source, slow, drop);
    source.write(frame(1, Buffer.alloc(100)));
    await new Promise((r) => setImmediate(r));
    expect(source.isPaused()).toBe(true);
    release?.();
    await new Promise((r) => setImmediate(r));
    expect(source.isPaused()).toBe(false);
  });

  it('writes to one side at a time: stderr waits until stdout has gone out, and order is kept', async () => {
    const events: string[] = [];
    let releaseOut: (() => void) | undefined;
    const out = new Writable({
      write(chunk, _e, done) {
        events.push(`out:${chunk.length}`);
        releaseOut = done;
      },
    });
    const err = new Writable({
      write(chunk, _e, done) {
        events.push(`err:${chunk.toString()}`);
        done();
      },
    });
    const source = new PassThrough();
    const finished = demuxExecStream(source, out, err);
    source.write(Buffer.concat([frame(1, Buffer.alloc(10)), frame(2, Buffer.from('bye'))]));
    source.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['out:10']);
    releaseOut?.();
    await finished;
    expect(events).toEqual(['out:10', 'err:bye']);
  });
});

describe('the failed-login limit counts each attempt, per address or IPv6 /64', () => {
  it('counts every attempt of one connection (each refused key an agent offers), not one per connection', async () => {
    const limit = new AuthRateLimit();
    // Four refused attempts (keys offered one after another) with ssh.auth-rate 3: the fourth bans.
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limit.fail('10.0.1.1', 3, 60));
    expect(results).toEqual([false, false, false, true]);
    // With the default 10 a minute an agent holding 5 keys (4 refused, then the right one) is not banned.
    const roomy = new AuthRateLimit();
    for (let i = 0; i < 4; i++) expect(await roomy.fail('10.0.1.2', 10, 60)).toBe(false);
    expect(await roomy.banned('10.0.1.2', 10, 60)).toBe(false);
  });

  it('keys IPv6 sources by /64 and IPv4-mapped ones as IPv4', async () => {
    expect(sourceKey('2001:db8:1:2:3:4:5:6')).toBe(sourceKey('2001:db8:1:2::9'));
    expect(sourceKey('2001:db8:1:2::9')).not.toBe(sourceKey('2001:db8:1:3::9'));
    expect(sourceKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('unknown')).toBe('unknown');
    const limit = new AuthRateLimit();
    for (let i = 0; i < 2; i++) await limit.fail(`2001:db8:7:7::${i + 1}`, 1, 60);
    expect(await limit.banned('2001:db8:7:7:ffff::1', 1, 60)).toBe(true);
    expect(await limit.banned('2001:db8:7:8::1', 1, 60)).toBe(false);
  });
});

describe('connections not logged in yet (MaxStartups)', () => {
  it('caps them per source and overall; a slot comes back once, when released', () => {
    const slots = new PreAuthSlots(() => 0);
    const limits = { perSource: 2, start: 3, rate: 100, full: 3 };
    const a1 = slots.take('10.0.0.1', limits);
    const a2 = slots.take('10.0.0.1', limits);
    expect(typeof a1 === 'function' && typeof a2 === 'function').toBe(true);
    expect(slots.take('10.0.0.1', limits)).toBe('per-source');
    expect(typeof slots.take('2001:db8::1', limits)).toBe('function');
    expect(slots.take('10.0.0.9', limits)).toBe('startups-full');
    if (typeof a1 === 'function') {
      a1();
      a1();
    }
    expect(slots.open).toBe(2);
    expect(typeof slots.take('10.0.0.1', limits)).toBe('function');
    expect(slots.take('10.0.0.1', limits)).toBe('per-source');
  });
});

describe('client variables in a session', () => {
  it('takes LANG, LC_* and TERM, and names from ssh.accept-env', () => {
    expect(acceptClientEnv('LANG', 'C.UTF-8', [])).toBe(true);
    expect(acceptClientEnv('LC_ALL', 'C', [])).toBe(true);
    expect(acceptClientEnv('TERM', 'xterm', [])).toBe(true);
    expect(acceptClientEnv('EDITOR', 'vi', [])).toBe(false);
    expect(acceptClientEnv('EDITOR', 'vi', ['EDITOR'])).toBe(true);
    expect(acceptClientEnv('EDITOR', 'a\0b', ['EDITOR'])).toBe(false);
    expect(acceptClientEnv('EDITOR', 'x'.repeat(5000), ['EDITOR'])).toBe(false);
  });

  it('never takes the variables berth sets or that change what runs, even when ssh.accept-env names them', () => {
    const reserved = ['BERTH_SESSION', 'HOME', 'USER', 'LOGNAME', 'PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'BASH_ENV', 'ENV'];
    for (const name of reserved) {
      expect(isReservedEnvName(name)).toBe(true);
      expect(acceptClientEnv(name, 'x', [name])).toBe(false);
    }
    expect(isReservedEnvName('PATHX')).toBe(false);
  });

  it('ssh.accept-env refuses those names with a clear error', () => {
    const key = CONFIG_KEYS['ssh.accept-env'];
    expect(key.parse('EDITOR,GIT_AUTHOR_NAME')).toEqual(['EDITOR', 'GIT_AUTHOR_NAME']);
    for (const bad of ['BERTH_SESSION', 'EDITOR,LD_PRELOAD', 'PATH', 'BASH_ENV']) {
      expect(() => key.parse(bad)).toThrow(/cannot be passed in from SSH clients/);
    }
  });
});

describe('the host key file', () => {
  it('is made 0600 and reused; one others can read is refused with what to do', async () => {
    const { chmod, mkdtemp, rm, stat } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadOrCreateHostKey } = await import('../../src/services/access/ssh-host-key.js');
    const home = await mkdtemp(join(tmpdir(), 'berth-hostkey-'));
    try {
      const made = await loadOrCreateHostKey(home);
      expect((await stat(made.path)).mode & 0o777).toBe(0o600);
      expect((await loadOrCreateHostKey(home)).fingerprint).toBe(made.fingerprint);
      await chmod(made.path, 0o644);
      await expect(loadOrCreateHostKey(home)).rejects.toMatchObject({ code: 'HOST_KEY_MODE', message: /mode 0644/ });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('forwarding the client receives (-R, agent, X11)', () => {
  it('is off until the operator turns it on', () => {
    for (const name of ['ssh.allow-remote-forward', 'ssh.allow-agent', 'ssh.allow-x11'] as const) {
      expect(CONFIG_KEYS[name].default).toBe(false);
      expect(CONFIG_KEYS[name].parse('on')).toBe(true);
      expect(() => CONFIG_KEYS[name].parse('maybe')).toThrow();
    }
  });

  it('takes an x11-req whose protocol and cookie xauth can be given as they are', () => {
    const ok = { single: false, protocol: 'MIT-MAGIC-COOKIE-1', cookie: Buffer.from('0a1b2c3d') as unknown as string, screen: 0 };
    expect(parseX11(ok)).toEqual({ single: false, protocol: 'MIT-MAGIC-COOKIE-1', cookie: '0a1b2c3d', screen: 0 });
    for (const bad of [
      { ...ok, protocol: 'MIT; rm -rf ~' },
      { ...ok, protocol: '' },
      { ...ok, cookie: 'abc' },
      { ...ok, cookie: 'zz' },
      { ...ok, cookie: '0a\nadd evil' },
      { ...ok, screen: -1 },
      { ...ok, screen: 1.5 },
      { ...ok, screen: 100 },
    ]) {
      expect(parseX11(bad)).toBeNull();
    }
  });

  it('lets -R ask for port 0 or an unprivileged port only', () => {
    for (const ok of [0, 1024, 8080, 65535]) expect(remoteForwardPortAllowed(ok)).toBe(true);
    for (const bad of [1, 22, 80, 1023, 65536, -1, 1.5, Number.NaN]) expect(remoteForwardPortAllowed(bad)).toBe(false);
  });

  it('uses only a helper path an image names in full', () => {
    expect(vmHelper({ 'dev.berth.vm-helper': '/usr/local/libexec/berth/vm-helper' })).toBe('/usr/local/libexec/berth/vm-helper');
    for (const bad of [
      undefined,
      {},
      { 'dev.berth.vm-helper': 'vm-helper' },
      { 'dev.berth.vm-helper': '/x y' },
      { 'dev.berth.vm-helper': '/x;id' },
    ]) {
      expect(vmHelper(bad)).toBeNull();
    }
  });
});
