import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import xtermHeadless from '@xterm/headless';
import { execa } from 'execa';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CastEvent, castEvent, castHeader, parseCast } from '../../src/domain/asciicast.js';
import { berth, berthJson, freePort } from '../helpers/cli.js';
import { daemonLog, daemonMetrics, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { unique, type VmHome, vmHome } from '../helpers/docker.js';
import { debianImage } from '../helpers/images.js';
import { sshClientOptions } from '../helpers/ssh.js';
import { pane, tmux } from '../helpers/terminal.js';
import { connected, openLink, shows, typeLine } from '../helpers/web-terminal-page.js';

// Session recording, end to end: real OpenSSH sessions (in tmux) and a web terminal in Chromium,
// recorded by the daemon as asciicast v2 files, read back, replayed to a screen with xterm's own
// headless terminal, listed, exported and replayed by the CLI; caps, retention and a full disk.

const { Terminal } = xtermHeadless;

let h: VmHome;
let sshPort: number;
let keys: string;
let browser: Browser;
let webUrl: string;
/** Recorded (output) by the config. */
let rita: string;
/** Recorded with input by their plan. */
let ivan: string;
/** Not recorded: their plan says off. */
let nora: string;

const run = (args: string[]) => berth(h.home, args);
const key = (login: string) => join(keys, login);
const sshArgs = (login: string, extra: string[] = []) => [...sshClientOptions(sshPort, key(login), extra), `${login}@127.0.0.1`];
const recordingsDir = () => join(h.home, 'recordings');

interface Listed {
  id: string;
  login: string;
  userId: string;
  vm: string;
  via: string;
  command: string | null;
  bytes: number;
  input: boolean;
}
const recordings = async (user?: string) =>
  (await berthJson<{ recordings: Listed[] }>(h.home, ['sessions', 'recordings', ...(user ? ['--user', user] : [])])).recordings;

/** The recordings of `login` once one more than `before` is complete (its session's audit line names it). */
async function newRecording(login: string, before: number, via = 'ssh'): Promise<Listed> {
  return waitFor(`a new ${via} recording of ${login}`, async () => {
    const mine = (await recordings(login)).filter((r) => r.via === via);
    if (mine.length <= before) return null;
    const log = await daemonLog(h.home);
    return log.includes(`"recording":"${mine[0]?.id}"`) ? mine[0] : null;
  });
}

/** What a terminal of the header's size shows after the recording's output and resizes. */
async function replayScreen(text: string): Promise<string[]> {
  const { header, events } = parseCast(text);
  const term = new Terminal({ cols: header.width, rows: header.height, allowProposedApi: true });
  for (const [, code, data] of events) {
    if (code === 'o') await new Promise<void>((resolve) => term.write(data, resolve));
    if (code === 'r') {
      const [cols, rows] = data.split('x').map(Number) as [number, number];
      term.resize(cols, rows);
    }
  }
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < term.rows; i++) lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
  term.dispose();
  return lines;
}

const metrics = () => daemonMetrics(h.home);

async function newUser(prefix: string, image: string, plan?: string): Promise<string> {
  const login = unique(prefix);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', key(login)]);
  expect((await run(['user', 'allow', login, ...(plan ? ['--plan', plan] : [])])).code).toBe(0);
  expect((await run(['user', 'key', 'add', login, '--file', `${key(login)}.pub`])).code).toBe(0);
  await berthJson(h.home, ['vm', 'create', login, '--image', image]);
  await waitFor(
    `${login}'s VM to be ready`,
    async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
    30_000,
  );
  return login;
}

/** Old recordings, made before the daemon starts: retention and the total cap must delete them. */
const stale = { expired: '', oldest: '', newer: '' };

async function fakeRecording(ageSeconds: number, bytes: number): Promise<string> {
  const id = randomBytes(6).toString('hex');
  const header = castHeader({
    width: 80,
    height: 24,
    timestamp: Date.now() / 1000 - ageSeconds,
    berth: { session: id, user: 'gone', userId: '000000000000', vm: 'gone/main', via: 'ssh', input: false },
  });
  const path = join(recordingsDir(), `${id}.cast`);
  await writeFile(path, `${header}\n${castEvent(1, 'o', 'x'.repeat(bytes))}\n`, { mode: 0o600 });
  const when = new Date(Date.now() - ageSeconds * 1000);
  await utimes(path, when, when);
  return id;
}

beforeAll(async () => {
  h = await vmHome();
  keys = join(h.home, '..', 'rec-keys');
  await execa('mkdir', ['-p', keys]);
  sshPort = await freePort();
  const webPort = await freePort();
  webUrl = `http://127.0.0.1:${webPort}`;
  for (const args of [
    ['config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`],
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
    ['config', 'set', 'web.public-url', webUrl],
    ['config', 'set', 'sessions.record', 'output'],
    ['config', 'set', 'sessions.record-keep', '7d'],
    ['config', 'set', 'sessions.record-max', '8m'],
    ['plan', 'add', 'typed', '--record', 'output+input'],
    ['plan', 'add', 'unrecorded', '--record', 'off'],
  ]) {
    const r = await run(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  const image = await debianImage(h.home);
  rita = await newUser('rr', image);
  ivan = await newUser('ri', image, 'typed');
  nora = await newUser('rn', image, 'unrecorded');
  await execa('mkdir', ['-m', '700', '-p', recordingsDir()]);
  stale.expired = await fakeRecording(8 * 24 * 3600, 100);
  stale.oldest = await fakeRecording(3 * 24 * 3600, 5 * 1024 * 1024);
  stale.newer = await fakeRecording(2 * 24 * 3600, 4 * 1024 * 1024);
  const start = await run(['daemon', 'start']);
  expect(start.code, start.stderr).toBe(0);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stopDaemonQuietly(h.home);
  await h.cleanup();
});

describe('recorded SSH sessions', () => {
  it('an ssh -tt shell is told, recorded as asciicast v2 (0600) with its resize, and replays to the screen it ended on', async () => {
    const before = (await recordings(rita)).length;
    const session = unique('berth-rec-');
    const { screen, shows: paneShows } = pane(session);
    await tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `ssh -tt ${sshArgs(rita).join(' ')}; sleep 30`);
    let final: string[] = [];
    try {
      await paneShows(/this session is recorded: what you see \(not what you type\)/);
      await paneShows(new RegExp(`${rita}@.*\\$`));
      // While it runs, berth sessions names its recording (the session's own id).
      const open = await berthJson<{ sessions: Array<{ id: string; user: string; kind: string; recording?: string }> }>(h.home, [
        'sessions',
      ]);
      const mine = open.sessions.find((x) => x.user === rita && x.kind === 'shell');
      expect(mine?.recording).toBe(mine?.id);
      expect((await run(['sessions'])).stdout).toContain('shell (rec)');
      await tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
      for (let i = 0; i < 10 && !/^30 100$/m.test(await screen()); i++) {
        await tmux('send-keys', '-t', session, 'clear; stty size', 'Enter');
        await new Promise((r) => setTimeout(r, 400));
      }
      await tmux('send-keys', '-t', session, "clear; printf 'RECORDED-%s\\n' 1 2 3", 'Enter');
      await paneShows(/RECORDED-3\n.*\$ *$/m);
      final = (await screen()).split('\n');
      await tmux('send-keys', '-t', session, 'exit', 'Enter');
      await paneShows(/Connection to 127\.0\.0\.1 closed|^\s*$/m);
    } finally {
      await tmux('kill-session', '-t', session).catch(() => undefined);
    }
    const rec = await newRecording(rita, before);
    expect(rec).toMatchObject({ login: rita, vm: `${rita}/main`, via: 'ssh', command: null, input: false });
    const path = join(recordingsDir(), `${rec.id}.cast`);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(recordingsDir())).mode & 0o777).toString(8)).toBe('700');
    const text = await readFile(path, 'utf8');
    const cast = parseCast(text);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24, berth: { session: rec.id, user: rita, input: false } });
    expect(cast.events.some(([, code, data]) => code === 'r' && data === '100x30')).toBe(true);
    expect(cast.events.filter(([, code]) => code === 'i')).toEqual([]);
    // The replay ends where the terminal was before `exit` (then the echoed exit and bash's logout).
    const replayed = await replayScreen(text);
    const lastShown = final.map((l) => l.trimEnd()).findLastIndex((l) => l !== '');
    expect(lastShown).toBeGreaterThan(2);
    expect(replayed.slice(0, lastShown)).toEqual(final.slice(0, lastShown).map((l) => l.trimEnd()));
    expect(replayed[lastShown]?.startsWith(final[lastShown]?.trimEnd() ?? '?')).toBe(true);
    // The audit line names it; the metrics count it.
    const audit = (await daemonLog(h.home)).split('\n').find((l) => l.includes(`"recording":"${rec.id}"`));
    expect(JSON.parse(audit ?? '{}')).toMatchObject({ event: 'ssh-session', user: rita, kind: 'shell', recording: rec.id });
    const m = await metrics();
    expect(Number(/^berth_recording_bytes_total (\d+)/m.exec(m)?.[1])).toBeGreaterThan(0);
    expect(m).toMatch(/^berth_recordings_total\{via="ssh",end="complete"\} [1-9]/m);
  });

  it('ssh -t CMD is recorded with its command; a command without a terminal only by its audit line', async () => {
    const before = (await recordings(rita)).length;
    const tty = await execa('ssh', ['-tt', ...sshArgs(rita), 'echo TTY-$((40+2))'], { reject: false, stdin: 'ignore' });
    expect(tty.exitCode, tty.stderr).toBe(0);
    expect(tty.stderr).toContain('this session is recorded');
    const rec = await newRecording(rita, before);
    expect(rec.command).toBe('echo TTY-$((40+2))');
    expect(
      parseCast(await readFile(join(recordingsDir(), `${rec.id}.cast`), 'utf8'))
        .events.map((e) => e[2])
        .join(''),
    ).toContain('TTY-42');
    const plain = await execa('ssh', [...sshArgs(rita), 'echo PLAIN-$((6*7)); exit 3'], { reject: false, stdin: 'ignore' });
    expect(plain.exitCode).toBe(3);
    expect(plain.stdout.trim()).toBe('PLAIN-42');
    expect(plain.stderr).not.toContain('recorded');
    const audit = await waitFor('the audit line of the plain command', async () =>
      (await daemonLog(h.home))
        .split('\n')
        .find((l) => l.includes('"ssh-session"') && l.includes('PLAIN-$((6*7))'))
        ?.trim(),
    );
    expect(JSON.parse(audit)).toMatchObject({ kind: 'exec', command: 'echo PLAIN-$((6*7)); exit 3', exitCode: 3 });
    expect(JSON.parse(audit).recording).toBeUndefined();
    expect((await recordings(rita)).length).toBe(before + 1);
  });

  it('input is recorded only where the plan asks for it; a plan with recording off is neither told nor recorded', async () => {
    const before = (await recordings(ivan)).length;
    const typed = await execa('ssh', ['-tt', ...sshArgs(ivan)], { reject: false, input: 'echo TYPED-$((1+1))\nexit\n' });
    expect(typed.stderr + typed.stdout).toContain('what you see and what you type');
    const rec = await newRecording(ivan, before);
    expect(rec.input).toBe(true);
    const events = parseCast(await readFile(join(recordingsDir(), `${rec.id}.cast`), 'utf8')).events;
    expect(
      events
        .filter(([, code]) => code === 'i')
        .map((e) => e[2])
        .join(''),
    ).toContain('echo TYPED-$((1+1))');
    expect(
      events
        .filter(([, code]) => code === 'o')
        .map((e) => e[2])
        .join(''),
    ).toContain('TYPED-2');

    const quiet = await execa('ssh', ['-tt', ...sshArgs(nora), 'echo QUIET-OK'], { reject: false, stdin: 'ignore' });
    expect(quiet.stdout).toContain('QUIET-OK');
    expect(quiet.stderr + quiet.stdout).not.toContain('recorded');
    expect(await recordings(nora)).toEqual([]);
  });

  it('a user reaches no recording from their VM; the CLI lists by user, exports the file and replays it', async () => {
    // The shell of the first case (the newest is the ssh -t command's).
    const mine = (await recordings(rita)).find((r) => r.command === null);
    expect(mine).toBeDefined();
    const id = mine?.id ?? '';
    // The recordings live on the host, under the berth home: nothing of them is in any VM.
    const look = await execa('ssh', [...sshArgs(nora), `find / -xdev -name '*.cast' 2>/dev/null; ls /recordings 2>&1; echo DONE`], {
      reject: false,
      stdin: 'ignore',
    });
    expect(look.stdout).not.toContain('.cast');
    expect(look.stdout).toContain('DONE');
    expect((await recordings(nora)).map((r) => r.id)).not.toContain(id);
    expect((await recordings(rita)).every((r) => r.login === rita)).toBe(true);

    const out = join(h.home, '..', `${id}.cast`);
    const exported = await run(['sessions', 'export', id, '-o', out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(await readFile(join(recordingsDir(), `${id}.cast`), 'utf8'));
    expect(((await stat(out)).mode & 0o777).toString(8)).toBe('600');
    const again = await run(['sessions', 'export', id, '-o', out]);
    expect(again.code).not.toBe(0);

    const replay = await run(['sessions', 'replay', id, '--speed', '100', '--idle-limit', '0.1']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('RECORDED-3');
    expect(replay.stderr).toContain('End of the recording');
    const info = await berthJson<{ recording: string; frames: number }>(h.home, ['sessions', 'replay', id]);
    expect(info.recording).toBe(id);
    expect(info.frames).toBeGreaterThan(0);

    const bad = await run(['sessions', 'replay', '../../etc/passwd']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not a recording id');
    const missing = await run(['sessions', 'export', 'aaaaaaaaaaaa']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('There is no session recording aaaaaaaaaaaa');
    const speed = await run(['sessions', 'replay', id, '--speed', '0']);
    expect(speed.stderr).toContain('--speed 0 is out of range');

    // berth doctor sums them up, and warns of a recording others could read.
    const doctor = async () =>
      (
        JSON.parse((await run(['doctor', '--json'])).stdout) as {
          recordings: { mode: string; plansRecording: string[]; count: number; warnings: string[] };
        }
      ).recordings;
    const fine = await doctor();
    expect(fine).toMatchObject({ mode: 'output', warnings: [] });
    expect(fine.plansRecording).toContain('typed (output+input)');
    expect(fine.count).toBeGreaterThan(2);
    const file = join(recordingsDir(), `${id}.cast`);
    await chmod(file, 0o644);
    try {
      expect((await doctor()).warnings.join('\n')).toMatch(/1 recording\(s\) readable by others/);
    } finally {
      await chmod(file, 0o600);
    }
  });
});

describe('a recorded web terminal', () => {
  it('says so on its page and in the terminal, and records what the browser showed (and, by the plan, typed)', async () => {
    const before = (await recordings(ivan)).filter((r) => r.via === 'web').length;
    const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
    try {
      const link = await berthJson<{ url: string }>(h.home, ['vm', 'web-terminal', ivan]);
      const page = await openLink(context, link.url, new RegExp(`/terminal/${ivan}/main$`));
      await connected(page);
      expect(await page.textContent('#recorded')).toContain('this session is recorded: what you see and what you type');
      await shows(page, /this session is recorded/);
      await typeLine(page, 'echo WEB-$((20+1))');
      await shows(page, /^WEB-21$/m);
      await typeLine(page, 'exit');
      const rec = await newRecording(ivan, before, 'web');
      const cast = parseCast(await readFile(join(recordingsDir(), `${rec.id}.cast`), 'utf8'));
      const of = (code: CastEvent[1]) =>
        cast.events
          .filter(([, c]) => c === code)
          .map((e) => e[2])
          .join('');
      expect(of('o')).toContain('WEB-21');
      expect(of('i')).toContain('echo WEB-$((20+1))');
      expect(cast.header.berth).toMatchObject({ via: 'web', user: ivan, input: true });
    } finally {
      await context.close();
    }
  });
});

describe('the host’s recordings', () => {
  it('retention and the total cap delete the oldest; a recording past its size cap ends with a marker, the session goes on', async () => {
    // Made before the daemon started: the one past sessions.record-keep (7d) goes, then the oldest
    // until all are within sessions.record-max (8 MiB).
    await waitFor('the expired and oldest recordings to be deleted', async () => {
      const ids = (await readdir(recordingsDir())).map((f) => f.replace(/\.cast$/, ''));
      return !ids.includes(stale.expired) && !ids.includes(stale.oldest);
    });
    expect((await readdir(recordingsDir())).map((f) => f.replace(/\.cast$/, ''))).toContain(stale.newer);

    expect((await run(['config', 'set', 'sessions.record-size', '64k'])).code).toBe(0);
    try {
      const before = (await recordings(rita)).length;
      const big = await execa('ssh', ['-tt', ...sshArgs(rita), 'seq 1 50000; echo SEQ-DONE'], { reject: false, stdin: 'ignore' });
      expect(big.exitCode).toBe(0);
      expect(big.stdout).toContain('50000');
      expect(big.stdout).toContain('SEQ-DONE');
      const rec = await newRecording(rita, before);
      const text = await readFile(join(recordingsDir(), `${rec.id}.cast`), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024);
      const last = parseCast(text).events.at(-1);
      expect(last?.[1]).toBe('m');
      expect(last?.[2]).toContain('size cap');
    } finally {
      expect((await run(['config', 'set', 'sessions.record-size', '100m'])).code).toBe(0);
    }
  });

  it('a full disk stops the recording, never the session', async () => {
    // A 256 KiB filesystem in place of the recordings folder for this one session.
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'berth-test-recordings', recordingsDir()]);
    try {
      const big = await execa('ssh', ['-tt', ...sshArgs(rita), 'seq 1 200000; echo FULL-DONE'], { reject: false, stdin: 'ignore' });
      expect(big.exitCode).toBe(0);
      expect(big.stdout).toContain('200000');
      expect(big.stdout).toContain('FULL-DONE');
      await waitFor('the recording to be counted as stopped by an error', async () =>
        /^berth_recordings_total\{via="ssh",end="error"\} [1-9]/m.test(await metrics()),
      );
    } finally {
      await execa('umount', [recordingsDir()]);
    }
  });
});
