import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, unique, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { sshClientOptions } from '../helpers/ssh.js';

// Hostile clients against the real daemon on loopback: source addresses from 127.0.0.0/8
// (the client socket bound to 127.0.0.N), the gateway on 127.0.0.1. The daemon's descriptors
// are capped at 1024 (prlimit), as systemd's default soft limit would.

const BANNER_S = 2;
/** Every engine wait of a session (exit code, signal exec) gives up after this long. */
const DEADLINE_MS = 2000;

let h: VmHome;
let port: number;
let keys: string;
let pid: number;
let baselineFds: number;

const run = (args: string[]) => berth(h.home, args);
const key = (name: string) => join(keys, name);
const fds = () => readdirSync(`/proc/${pid}/fd`).length;

function sshArgs(login: string, from: string, extra: string[] = []): string[] {
  return [...sshClientOptions(port, key(login), [...extra, '-o', `BindAddress=${from}`]), `${login}@127.0.0.1`];
}

async function ssh(login: string, command: string[], from = '127.0.0.1', extra: string[] = []) {
  const r = await execa('ssh', [...sshArgs(login, from, extra), ...command], { reject: false, stdin: 'ignore', timeout: 60_000 });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout).trim(), stderr: String(r.stderr) };
}

async function newUser(prefix: string): Promise<string> {
  const login = unique(prefix);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', key(login)]);
  expect((await run(['user', 'allow', login])).code).toBe(0);
  expect((await run(['user', 'key', 'add', login, '--file', `${key(login)}.pub`])).code).toBe(0);
  await berthJson(h.home, ['vm', 'create', login]);
  await waitFor(
    `${login}'s VM to be ready`,
    async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
    30_000,
  );
  return login;
}

/** Opens a TCP connection from `from`; resolves once it is connected (or already closed). */
function open(from: string, hello?: string | Buffer): Promise<Socket> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port, localAddress: from });
    s.on('error', () => undefined);
    s.resume();
    s.once('connect', () => {
      if (hello) s.write(hello);
      resolve(s);
    });
    s.once('close', () => resolve(s));
  });
}

const closed = (s: Socket) => s.destroyed || s.closed;

/** A file in a VM's container, read as root through busybox ('' when there is none). */
async function rootRead(container: string, path: string): Promise<string> {
  const exec = await docker.getContainer(container).exec({
    Cmd: ['/bin/busybox', 'cat', path],
    User: '0',
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const sink = (keep: boolean) => ({ write: (c: Buffer) => (keep ? chunks.push(c) : 0) }) as unknown as NodeJS.WritableStream;
  docker.modem.demuxStream(stream, sink(true), sink(false));
  await new Promise((r) => stream.on('end', r).on('close', r));
  return Buffer.concat(chunks).toString();
}

async function metrics(): Promise<string> {
  return new Promise<string>((resolve, reject) => {
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
}

const counter = (body: string, name: string, labels: string) =>
  Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(body)?.[1] ?? 0);

/** Every daemon log file now: the current one and the rotated ones. */
async function logFiles(): Promise<Array<{ name: string; size: number; text: string }>> {
  const dir = join(h.home, 'logs');
  const names = (await readdir(dir)).filter((n) => /^daemon\.log(\.\d+)?$/.test(n)).sort();
  return Promise.all(
    names.map(async (name) => ({ name, size: (await stat(join(dir, name))).size, text: await readFile(join(dir, name), 'utf8') })),
  );
}

beforeAll(async () => {
  h = await vmHome();
  keys = join(h.home, '..', 'keys');
  await execa('mkdir', ['-p', keys]);
  port = await freePort();
  for (const args of [
    ['config', 'set', 'ssh.listen', `127.0.0.1:${port}`],
    ['config', 'set', 'ssh.banner-timeout', `${BANNER_S}s`],
    ['config', 'set', 'log.max-size', '64k'],
    ['config', 'set', 'log.keep', '3'],
  ]) {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(0);
  }
  const start = await berth(h.home, ['daemon', 'start'], { env: { BERTH_SSH_EXIT_DEADLINE_MS: String(DEADLINE_MS) } });
  expect(start.code, start.stderr).toBe(0);
  pid = JSON.parse((await run(['daemon', 'status', '--json'])).stdout).pid;
  // systemd's default: 1024 descriptors. A daemon that keeps what floods open runs out.
  await execa('prlimit', ['--pid', String(pid), '--nofile=1024:1024']);
  baselineFds = fds();
}, 120_000);

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('connections that never log in', () => {
  it('2 000 silent connections from one address are cut within the banner deadline, the address is penalised; the descriptors come back', async () => {
    const sockets: Socket[] = [];
    try {
      for (let batch = 0; batch < 8; batch++) {
        sockets.push(...(await Promise.all(Array.from({ length: 250 }, () => open('127.0.0.5')))));
      }
      // Past the per-source cap they were dropped at accept; the ten let in go at the banner deadline,
      // which penalises the address: from then on its connections are refused at accept.
      await waitFor('every connection to be cut by the gateway', async () => sockets.every(closed), (BANNER_S + 15) * 1000);
      await waitFor(`the daemon's descriptors to come back (${baselineFds} at rest)`, async () => fds() <= baselineFds + 10, 15_000);
      const m = await metrics();
      const atAccept = counter(m, 'berth_ssh_drops_total', 'reason="per-source"') + counter(m, 'berth_ssh_drops_total', 'reason="penalty"');
      expect(atAccept).toBeGreaterThanOrEqual(1900);
      expect(counter(m, 'berth_ssh_drops_total', 'reason="banner-timeout"')).toBeGreaterThanOrEqual(1);
      const late = await open('127.0.0.5', 'SSH-2.0-late\r\n');
      await waitFor('a new connection from the penalised address to be refused', async () => closed(late), 10_000);
      expect(counter(await metrics(), 'berth_ssh_drops_total', 'reason="penalty"')).toBeGreaterThan(0);
      const penalised = await waitFor('the penalty in the daemon log', async () =>
        (await daemonLog(h.home)).split('\n').find((l) => l.includes('"reason":"penalty"') && l.includes('"source":"127.0.0.5"')),
      );
      expect(penalised).toContain('"cause":"grace-exceeded"');
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('ten sources holding connections do not lock out an eleventh (random early drop)', async () => {
    const holders: Socket[] = [];
    try {
      // Each source tries ten connections that send their identification line and then nothing.
      for (let round = 0; round < 10; round++) {
        for (let src = 20; src < 30; src++) holders.push(await open(`127.0.0.${src}`, 'SSH-2.0-holder\r\n'));
      }
      // The gateway's drops reach the client a moment after its connect (longer on a loaded machine).
      const held = await waitFor('some of the hundred to be dropped', async () => {
        const n = holders.filter((s) => !closed(s)).length;
        return n < 100 ? n : null;
      });
      expect(held).toBeGreaterThanOrEqual(10);
      // The eleventh: dropped at random, let in after a bounded number of tries.
      let admitted = false;
      for (let attempt = 0; attempt < 40 && !admitted; attempt++) {
        const s = await open('127.0.0.40', 'SSH-2.0-probe\r\n');
        admitted = await new Promise<boolean>((resolve) => {
          if (closed(s)) return resolve(false);
          const timer = setTimeout(() => resolve(true), 1500);
          s.once('close', () => {
            clearTimeout(timer);
            resolve(false);
          });
        });
        s.destroy();
      }
      expect(admitted).toBe(true);
      expect(counter(await metrics(), 'berth_ssh_drops_total', 'reason="startups-early-drop"')).toBeGreaterThan(0);
    } finally {
      for (const s of holders) s.destroy();
    }
  });
});

describe('the daemon log under a reconnect loop', () => {
  it('3 000 connects from one address add a few lines, not one per connection; the log rotates keeping N files', async () => {
    const before = (await logFiles()).reduce((n, f) => n + (f.text.match(/"source":"127\.0\.0\.6"/g)?.length ?? 0), 0);
    const dropsBefore = counter(await metrics(), 'berth_ssh_drops_total', 'reason="per-source"');
    let started = 0;
    // 40 at a time from one source, each held until the gateway drops it (or 300 ms): with 10 slots
    // per source most are dropped — whatever the machine's load, each round fills the slots first.
    const worker = async () => {
      while (started < 3000) {
        started++;
        const s = await open('127.0.0.6', 'SSH-2.0-loop\r\n');
        await new Promise<void>((resolve) => {
          if (closed(s)) return resolve();
          const timer = setTimeout(resolve, 300);
          s.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        s.destroy();
      }
    };
    await Promise.all(Array.from({ length: 40 }, worker));
    const drops = counter(await metrics(), 'berth_ssh_drops_total', 'reason="per-source"') - dropsBefore;
    expect(drops).toBeGreaterThan(1000);
    const lines = (await logFiles()).flatMap((f) => f.text.split('\n').filter((l) => l.includes('"source":"127.0.0.6"')));
    expect(lines.length - before).toBeLessThan(20);
    expect(lines.join('\n').length).toBeLessThan(8 * 1024);

    // Rotation: small files, two kept; many sources' first drops fill them.
    expect((await run(['config', 'set', 'log.max-size', '4k'])).code).toBe(0);
    expect((await run(['config', 'set', 'log.keep', '2'])).code).toBe(0);
    try {
      let net = 1;
      await waitFor(
        'the log to rotate at 4k',
        async () => {
          // Sources new to the gateway each time: the first drop of each is written at once.
          net++;
          for (let src = 100; src < 130; src++) {
            const burst = await Promise.all(Array.from({ length: 12 }, () => open(`127.0.${net}.${src}`)));
            // Held until the gateway has dropped those past the per-source cap (or 1 s).
            const end = Date.now() + 1000;
            while (burst.filter(closed).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
            for (const s of burst) s.destroy();
          }
          const files = await logFiles();
          return files.some((f) => f.name === 'daemon.log.2') && files.every((f) => f.name === 'daemon.log' || f.size <= 4096 + 1024);
        },
        90_000,
      );
      const files = await logFiles();
      expect(files.map((f) => f.name)).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2']);
      for (const f of files) expect(f.size).toBeLessThanOrEqual(4096 + 1024);
      const logs = await run(['daemon', 'logs', '-n', '3']);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout.trim().split('\n')).toHaveLength(3);
    } finally {
      await run(['config', 'unset', 'log.max-size']);
      await run(['config', 'unset', 'log.keep']);
    }
  }, 180_000);
});

describe('logins under a flood, and per-user limits', () => {
  let user: string;
  beforeAll(async () => {
    user = await newUser('u');
  }, 60_000);

  it('a flood from 127.0.0.5 does not stop a login from 127.0.0.1', async () => {
    let flooding = true;
    const flood = async () => {
      while (flooding) {
        const burst = await Promise.all(Array.from({ length: 50 }, () => open('127.0.0.5')));
        await new Promise((r) => setTimeout(r, 50));
        for (const s of burst) s.destroy();
      }
    };
    const floods = [flood(), flood()];
    try {
      // Connections beyond MaxStartups' start are dropped at random (30 %): a few tries at most.
      let last = { code: -1, stdout: '', stderr: '' };
      for (let attempt = 0; attempt < 8 && last.stdout !== 'in'; attempt++) last = await ssh(user, ['echo', 'in']);
      expect(last.stdout, last.stderr).toBe('in');
    } finally {
      flooding = false;
      await Promise.all(floods);
    }
  });

  it('a flood of silent, half-open and garbage connections from three addresses leaves 3 logins of 3 within 5 s from a fourth', async () => {
    // The flood: 2 000 silent and 500 half-open connections from two addresses, 2 000
    // garbage ones from a third, each address keeping 50 (12 half-open) at a time, while a
    // user logs in three times. Bounded: each connection held until the gateway cuts it or
    // 3 s, each worker opening its next one no sooner than 500 ms after the last.
    const [SILENT, HALF, GARBAGE] = ['127.0.0.55', '127.0.0.56', '127.0.0.57'];
    const halfKex = Buffer.concat([Buffer.from('SSH-2.0-half\r\n'), Buffer.from([0, 0, 4, 0, 6, 20]), Buffer.alloc(16, 7)]);
    const payloads = {
      [SILENT]: () => undefined,
      // Half of them stop inside the identification line, half inside the first key exchange packet.
      [HALF]: (i: number) => (i % 2 === 0 ? 'SSH-2.0-Open' : halfKex),
      [GARBAGE]: (i: number) =>
        i % 2 === 0 ? 'GET / HTTP/1.1\r\nHost: berth\r\n\r\n' : Buffer.concat([Buffer.alloc(64, i & 255), Buffer.from('\n')]),
    };
    const before = await metrics();
    const flooding = { running: 0, opened: 0 };
    const live = new Set<Socket>();
    const flood = async (from: string, count: number, workers: number) => {
      let started = 0;
      const worker = async () => {
        while (started < count) {
          const i = started++;
          const t0 = Date.now();
          const s = await open(from, payloads[from]?.(i));
          flooding.opened++;
          live.add(s);
          await new Promise<void>((resolve) => {
            if (closed(s)) return resolve();
            const timer = setTimeout(resolve, 3000);
            s.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          });
          s.destroy();
          live.delete(s);
          await new Promise((r) => setTimeout(r, Math.max(0, 500 - (Date.now() - t0))));
        }
      };
      flooding.running++;
      await Promise.all(Array.from({ length: workers }, worker));
      flooding.running--;
    };
    const floods = [flood(SILENT, 2000, 50), flood(HALF, 500, 12), flood(GARBAGE, 2000, 50)];
    const logins: Array<{ ok: boolean; ms: number; during: boolean; stderr: string }> = [];
    try {
      await waitFor('the flood to be under way', async () => flooding.opened >= 300, 30_000);
      for (let i = 0; i < 3; i++) {
        const during = flooding.running === 3;
        const t0 = Date.now();
        const r = await ssh(user, ['echo', 'in']);
        logins.push({ ok: r.stdout === 'in', ms: Date.now() - t0, during, stderr: r.stderr.trim() });
      }
    } finally {
      await Promise.all(floods);
      for (const s of live) s.destroy();
    }
    // Every login got in, each within 5 s, while all three addresses were flooding.
    expect(logins, JSON.stringify(logins)).toHaveLength(3);
    for (const l of logins) {
      expect(l.ok, l.stderr).toBe(true);
      expect(l.ms).toBeLessThan(5000);
      expect(l.during).toBe(true);
    }
    // The floods were penalised: the silent and half-open addresses for their timeouts, the
    // garbage one for its garbage; their connections refused at accept, one log line per
    // address and interval.
    const m = await metrics();
    const grew = (reason: string) =>
      counter(m, 'berth_ssh_drops_total', `reason="${reason}"`) - counter(before, 'berth_ssh_drops_total', `reason="${reason}"`);
    expect(grew('penalty')).toBeGreaterThan(1000);
    const lines = (await logFiles()).flatMap((f) => f.text.split('\n').filter((l) => l.includes('"reason":"penalty"')));
    const of = (source: string) => lines.filter((l) => l.includes(`"source":"${source}"`));
    expect(of(SILENT).find((l) => l.includes('"cause"'))).toContain('"cause":"grace-exceeded"');
    expect(of(HALF).find((l) => l.includes('"cause"'))).toContain('"cause":"grace-exceeded"');
    expect(of(GARBAGE).find((l) => l.includes('"cause"'))).toContain('"cause":"noauth"');
    for (const source of [SILENT, HALF, GARBAGE]) expect(of(source).length).toBeLessThan(20);
    expect(of('127.0.0.1')).toEqual([]);
    await waitFor(`the daemon's descriptors to come back (${baselineFds} at rest)`, async () => fds() <= baselineFds + 10, 20_000);
  }, 180_000);

  it('refuses a connection over ssh.max-connections (ssh -N ones count) and channels over ssh.channel-rate, saying why', async () => {
    expect((await run(['config', 'set', 'ssh.max-connections', '2'])).code).toBe(0);
    const logins = () =>
      daemonLog(h.home).then((t) => t.split('\n').filter((l) => l.includes(`"user":"${user}"`) && l.includes('"msg":"ssh login"')).length);
    const first = await logins();
    const tunnels = [0, 1].map(() => execa('ssh', sshArgs(user, '127.0.0.1', ['-N']), { reject: false, stdin: 'ignore' }));
    try {
      await waitFor('two ssh -N connections to log in', async () => (await logins()) >= first + 2);
      const third = await ssh(user, ['echo', 'third']);
      expect(third.code).toBe(255);
      expect(third.stdout).toBe('');
      expect(third.stderr).toContain('ssh.max-connections');
    } finally {
      for (const t of tunnels) t.kill('SIGKILL');
      await Promise.all(tunnels);
      await run(['config', 'unset', 'ssh.max-connections']);
    }

    expect((await run(['config', 'set', 'ssh.channel-rate', '3'])).code).toBe(0);
    try {
      // Each run opens one session channel: the fourth in a minute is refused.
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await ssh(user, ['echo', 'ok'], '127.0.0.1', ['-o', 'LogLevel=INFO']));
      expect(results.filter((r) => r.stdout === 'ok').length).toBeLessThanOrEqual(3);
      const refused = results.find((r) => r.stdout !== 'ok');
      expect(refused?.stderr).toMatch(/open failed.*too many channels.*ssh\.channel-rate/);
      expect(counter(await metrics(), 'berth_ssh_drops_total', 'reason="channel-rate"')).toBeGreaterThan(0);
    } finally {
      await run(['config', 'unset', 'ssh.channel-rate']);
    }
  });
});

describe('a VM whose /bin/sh never returns', () => {
  it('sessions end at the deadline with an audit line; no channel, descriptor or session is left', async () => {
    const login = await newUser('z');
    // What a user with sudo could do: a /bin/sh that drops its session tag, closes its output
    // and lives on. The gateway's commands and its signal exec both run through it.
    const fake = [
      '#!/bin/busybox sh',
      // Which sessions' commands have started (the test waits for them before their clients leave).
      'if [ -n "$BERTH_SESSION" ]; then echo "$BERTH_SESSION" >> /tmp/.sessions-started; fi',
      "exec /usr/bin/env -u BERTH_SESSION /bin/busybox sh -c 'exec </dev/null >/dev/null 2>&1; exec /bin/busybox sleep 120'",
      '',
    ].join('\n');
    const root = await docker.getContainer(await vmContainer(login)).exec({
      Cmd: ['/bin/busybox', 'sh', '-c', 'cat > /bin/sh.fake && chmod 755 /bin/sh.fake && mv -f /bin/sh.fake /bin/sh'],
      User: '0',
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await root.start({ hijack: true, stdin: true });
    stream.end(fake);
    await new Promise((r) => stream.on('end', r).on('close', r));
    expect((await root.inspect()).ExitCode).toBe(0);

    // 80 sessions, 8 at a time, each disconnected by its client once it runs: the gateway's
    // signal exec (through that /bin/sh) never ends.
    const SESSIONS = 80;
    const ended: Array<{ code: number; stderr: string }> = [];
    const seen = new Set<string>();
    const container = await vmContainer(login);
    for (let round = 0; round < SESSIONS / 8; round++) {
      const clients = Array.from({ length: 8 }, (_, i) => {
        const child = spawn('ssh', [...sshArgs(login, '127.0.0.1'), `echo round-${round}-${i}`], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
        });
        const done = new Promise<{ code: number; stderr: string }>((resolve) =>
          child.on('close', (code) => resolve({ code: code ?? -1, stderr })),
        );
        return { child, done };
      });
      const roundIds = await waitFor(
        'the round to be listed',
        async () => {
          const open = (await berthJson<{ sessions: Array<{ id: string; user: string }> }>(h.home, ['ssh', 'sessions'])).sessions;
          const ids = open.filter((s) => s.user === login && !seen.has(s.id)).map((s) => s.id);
          return ids.length >= 8 ? ids : null;
        },
        30_000,
      ).catch(() => null);
      expect(roundIds, 'sessions of the round listed').not.toBeNull();
      for (const id of roundIds ?? []) seen.add(id);
      // Listed is not yet running: each command must have started in the VM before its client
      // leaves, or there is nothing in the VM for the gateway to end.
      const running = await waitFor(
        "the round's commands to run in the VM",
        async () => {
          const started = (await rootRead(container, '/tmp/.sessions-started')).split('\n');
          return (roundIds ?? []).every((id) => started.includes(id)) ? true : null;
        },
        30_000,
      ).catch(() => null);
      expect(running, "the round's commands running in the VM").toBe(true);
      for (const c of clients) c.child.kill('SIGKILL');
      ended.push(...(await Promise.all(clients.map((c) => c.done))));
    }
    expect(ended).toHaveLength(SESSIONS);

    await waitFor('no session of the user left', async () =>
      (await berthJson<{ sessions: Array<{ user: string }> }>(h.home, ['ssh', 'sessions'])).sessions.every((s) => s.user !== login),
    );
    const audits = await waitFor(
      `${SESSIONS} audit lines`,
      async () => {
        const lines = (await logFiles())
          .flatMap((f) => f.text.split('\n'))
          .filter((l) => l.includes('"event":"ssh-session"') && l.includes(`"user":"${login}"`));
        return lines.length >= SESSIONS ? lines : null;
      },
      30_000,
    );
    expect(audits).toHaveLength(SESSIONS);
    // Every command ran when its client left, and the hangup's signal exec (through that /bin/sh)
    // never ends: each session ended at the deadline.
    const outcomes = audits.map((line) => JSON.parse(line).outcome as string);
    expect(outcomes.filter((o) => o !== 'timeout')).toEqual([]);
    expect(await metrics()).toMatch(/^berth_ssh_sessions_active 0$/m);
    await waitFor(`the daemon's descriptors to come back (${baselineFds} at rest)`, async () => fds() <= baselineFds + 10, 20_000);
  }, 180_000);
});
