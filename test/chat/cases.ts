import { randomBytes } from 'node:crypto';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL } from '../../daemon/chat/access.js';
import { UNKNOWN } from '../../daemon/chat/core.js';
import { parseCast } from '../../src/domain/asciicast.js';
import { recordingNoticeFor } from '../../src/domain/recording.js';
import { verifyApiToken } from '../../src/services/apps/api-tokens.js';
import type { State, User } from '../../src/state/schema.js';
import { appBaseImages } from '../helpers/app-images.js';
import { berth, freePort, stateText } from '../helpers/cli.js';
import { daemonLog, state, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, findVmContainer, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { markedText, startFakeMessagesApi } from '../helpers/fake-messages-api.js';
import { agentImage } from '../helpers/images.js';
import type { BerthRun, ChatDriver, Person, Reply } from './driver.js';

/** What the cases share; filled by the suite's beforeAll (read it inside tests and hooks only). */
export interface ChatContext {
  driver: ChatDriver;
  h: VmHome;
  run: BerthRun;
  /** The berth CLI, failing with its stderr when it does not succeed. */
  must: BerthRun;
  admin: Person;
  alice: Person;
  bob: Person;
  stranger: Person;
  webUrl: string;
  /** The agent key alice gives (case 7). */
  key: string;
  /** `person` sends the command; the first reply to them after it that matches (by default: the first message, not an edit). */
  ask(person: Person, name: string, args?: Record<string, string>, match?: (r: Reply) => boolean, timeoutMs?: number): Promise<Reply>;
}

export interface ConformanceExtras {
  /** More set-up before the daemon starts (another stand-in, config). */
  beforeDaemon?(ctx: ChatContext): Promise<void>;
  /** More cases for this front-end, after the shared ones, on the same daemon and VMs. */
  cases?(ctx: ChatContext): void;
  afterAll?(ctx: ChatContext): Promise<void>;
}

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A session recording as the recorder leaves it: `<home>/recordings/ID.cast`, 0600, last written `seconds` after its start. */
async function writeRecording(home: string, id: string, user: { id: string; login: string }, startedAt: number, seconds: number) {
  const dir = join(home, 'recordings');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const header = {
    version: 2,
    width: 80,
    height: 24,
    timestamp: startedAt,
    berth: { session: id, user: user.login, userId: user.id, vm: `${user.login}/main`, via: 'ssh', input: false },
  };
  const path = join(dir, `${id}.cast`);
  await writeFile(path, `${JSON.stringify(header)}\n[0.1,"o","$ "]\n[1.5,"o","ls\\r\\n"]\n`, { mode: 0o600 });
  await utimes(path, startedAt + seconds, startedAt + seconds);
}

/** The login of the person's berth user, by their account id. */
export async function loginOf(ctx: ChatContext, p: Person): Promise<string | undefined> {
  const users = (await state(ctx.h.home)).users as { login: string; telegramId?: number; discordId?: string; status: string }[];
  return users.find((u) => (ctx.driver.name === 'telegram' ? String(u.telegramId) === p.id : u.discordId === p.id))?.login;
}

/**
 * One story of the chat bot, run against each front-end through its driver: access requests and
 * their buttons, VM commands, one-time links, files, the coding agent, forged presses, revoked
 * access and refusals. One daemon and one VM serve every case, in order.
 */
export function chatConformance(makeDriver: () => ChatDriver, extras: ConformanceExtras = {}): void {
  const ctx = { driver: makeDriver() } as ChatContext;

  describe(`the chat bot on ${ctx.driver.name}, through its stand-in`, () => {
    let stand: Awaited<ReturnType<typeof startFakeMessagesApi>> | undefined;

    beforeAll(async () => {
      ctx.h = await vmHome();
      ctx.run = (args, input) => berth(ctx.h.home, args, { input });
      ctx.must = async (args, input) => {
        const r = await ctx.run(args, input);
        if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
        return r;
      };
      ctx.key = `sk-ant-conf-${randomBytes(9).toString('hex')}zzKEY`;
      ctx.ask = async (person, name, args = {}, match = (r) => !r.edit, timeoutMs = 30_000) => {
        const after = ctx.driver.mark();
        await ctx.driver.command(person, name, args);
        return ctx.driver.waitFor(person, match, { after, timeoutMs });
      };
      const { driver, must } = ctx;
      const build = await agentImage(ctx.h.home);
      // Apps deployed from chat are built on the test's app bases (made once, shared by the test files).
      const bases = await appBaseImages(ctx.h.home);
      await driver.start();
      ctx.admin = driver.person('theadmin');
      ctx.alice = driver.person('alice');
      ctx.bob = driver.person('bob');
      ctx.stranger = driver.person('dora');
      ctx.webUrl = `http://127.0.0.1:${await freePort()}`;
      for (const args of [
        ['config', 'set', 'ssh.enabled', 'off'],
        ['config', 'set', 'web.listen', ctx.webUrl.slice('http://'.length)],
        // VMs made from chat run the agent image: alice's /create gives her an agent (case 7).
        ['config', 'set', 'image', build.tag],
        ['config', 'set', 'agent.timeout', '120s'],
        ['config', 'set', 'apps.python-image', bases.python],
        ['config', 'set', 'apps.node-image', bases.node],
        // Apps serving HTTP get an address of their own under it (only the /app Open case asks for one).
        ['config', 'set', 'web.apps-domain', 'localhost'],
        ['plan', 'add', 'coder', '--agent', 'full'],
        ['user', 'allow', 'alice', ...driver.idFlags(ctx.alice), '--plan', 'coder'],
        ['user', 'allow', 'bob', ...driver.idFlags(ctx.bob)],
      ]) {
        await must(args);
      }
      // The stand-in Messages API on the test network's gateway, reached from VMs through network.host-allow
      // (network apply makes the network: no VM has yet).
      await must(['network', 'apply']);
      const net = await docker.getNetwork(ctx.h.network).inspect();
      stand = await startFakeMessagesApi({ host: net.IPAM?.Config?.[0]?.Gateway as string });
      await must(['config', 'set', 'network.host-allow', `tcp/${stand.port}`]);
      await must(['config', 'set', 'agent.api-base-url', stand.url]);
      await must(['network', 'apply']);
      await driver.setup(ctx.run, [ctx.admin]);
      await extras.beforeDaemon?.(ctx);
      await must(['daemon', 'start']);
      await driver.ready(ctx.run);
    }, 1_200_000);

    afterAll(async () => {
      if (ctx.h) await stopDaemonQuietly(ctx.h.home);
      if (process.env.BERTH_TEST_SHOW_LOG && ctx.h) process.stderr.write(await daemonLog(ctx.h.home));
      await extras.afterAll?.(ctx);
      await ctx.driver?.close();
      await stand?.close();
      await ctx.h?.cleanup();
    });

    it('a stranger is refused, asks with /start, waits, and is let in by the admin’s approve button', async () => {
      const { driver, admin, stranger, ask } = ctx;
      expect((await ask(stranger, 'status')).text).toBe(REFUSAL.stranger);
      const at = driver.mark();
      expect((await ask(stranger, 'start')).text).toMatch(/request for access was sent to the admins/);
      const login = await loginOf(ctx, stranger);
      const user = (await state(ctx.h.home)).users.find((u: { login: string }) => u.login === login);
      expect(user).toMatchObject({ status: 'pending' });
      const request = await driver.waitFor(admin, (r) => /Access request/.test(r.text), { after: at });
      expect(request.private).toBe(true);
      expect(request.text).toContain(stranger.id);
      const approve = request.buttons.find((b) => b.data.startsWith(`ap:${user.id}:`));
      expect(approve, JSON.stringify(request.buttons)).toBeDefined();
      expect(request.buttons.map((b) => b.data)).toContain(`rj:${user.id}`);

      expect((await ask(stranger, 'status')).text).toBe(REFUSAL.waiting);

      const pressed = driver.mark();
      await driver.press(admin, request, approve?.data as string);
      const decided = await driver.waitFor(admin, (r) => r.messageId === request.messageId && /approved on plan/.test(r.text), {
        after: pressed,
      });
      // The request's buttons are gone once it is decided.
      expect(decided.buttons).toEqual([]);
      const told = await driver.waitFor(stranger, (r) => /access was approved/.test(r.text), { after: pressed });
      expect(told.private).toBe(true);
      await waitFor('the stranger to be allowed', async () =>
        (await state(ctx.h.home)).users.some((u: { login: string; status: string }) => u.login === login && u.status === 'allowed'),
      );
      expect((await ask(stranger, 'myid')).text).toContain(`Login: ${login} (allowed`);
    });

    it('/create makes the VM', { timeout: 180_000 }, async () => {
      const { driver, alice } = ctx;
      const at = driver.mark();
      await driver.command(alice, 'create');
      const done = await driver.waitFor(alice, (r) => /Your VM main is running/.test(r.text), { after: at, timeoutMs: 150_000 });
      expect(done.private).toBe(true);
      const inspect = await docker.getContainer(await vmContainer('alice')).inspect();
      expect(inspect.State.Running).toBe(true);
    });

    it('/exec runs as the user, never as root', async () => {
      // A slow command shows a note first, then the output in its place: wait for the exit code.
      const reply = await ctx.ask(ctx.alice, 'exec', { command: 'id -un; id -u' }, (r) => /Exit code/.test(r.text));
      expect(reply.text).toMatch(/\balice\n1000\b/);
      expect(reply.text).not.toMatch(/\broot\b/);
      expect(reply.text).toContain('Exit code: 0');
      expect(reply.private).toBe(true);
      const failed = await ctx.ask(ctx.alice, 'exec', { command: 'exit 3' }, (r) => /Exit code/.test(r.text));
      expect(failed.text).toContain('Exit code: 3');
      // Output with the messengers' markup characters comes back as it is, escaped, never formatting.
      const marks = '<b>&amp; *x* _y_ `z` ```w``` [l](<http://e.x>) ~~s~~ || @everyone';
      const marked = await ctx.ask(ctx.alice, 'exec', { command: `printf '%s\\n' '${marks}'` }, (r) => /Exit code/.test(r.text));
      expect(marked.text).toContain(`\n${marks}\n`);
      expect(marked.links).toEqual([]);
      // Output longer than a message: its end in a block, the whole of it attached.
      const at = ctx.driver.mark();
      await ctx.driver.command(ctx.alice, 'exec', { command: 'seq 1 5000' });
      const file = await ctx.driver.waitFor(ctx.alice, (r) => r.files.length > 0, { after: at });
      expect(file.files[0]?.name).toBe('output.txt');
      const lines = file.files[0]?.data.toString('utf8').trim().split('\n') ?? [];
      expect(lines).toHaveLength(5000);
      expect(lines.at(-1)).toBe('5000');
      const block = await ctx.driver.waitFor(ctx.alice, (r) => /Exit code: 0/.test(r.text), { after: at });
      expect(block.text).toMatch(/\n5000\n/);
    });

    it('/status shows the VM running', async () => {
      const reply = await ctx.ask(ctx.alice, 'status');
      expect(reply.text).toMatch(/main — 🟢 running/);
      expect(reply.text).toContain('Plan: coder');
      expect(reply.private).toBe(true);
      // Nothing is recorded: nothing said about it.
      expect(reply.text).not.toMatch(/recorded/);
    });

    it('/web_terminal gives a private link that works once', async () => {
      const { webUrl } = ctx;
      const reply = await ctx.ask(ctx.alice, 'web_terminal');
      expect(reply.private).toBe(true);
      expect(reply.text).toContain('Open the terminal of main');
      const link = reply.links.find((l) => l.startsWith(`${webUrl}/t#`));
      expect(link, JSON.stringify(reply)).toBeDefined();
      const ticket = (link as string).slice(`${webUrl}/t#`.length);
      expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const spend = () =>
        fetch(`${webUrl}/t`, {
          method: 'POST',
          headers: { origin: webUrl, 'content-type': 'application/json' },
          body: JSON.stringify({ ticket }),
        });
      const first = await spend();
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ location: '/terminal/alice/main' });
      expect((await spend()).status).toBe(410);
      expect(await daemonLog(ctx.h.home)).not.toContain(ticket);
    });

    it('a recorded user is told in /status and /help; /recordings and /replay show only their own, where offered', async () => {
      const { driver, alice, bob, webUrl, ask, must } = ctx;
      const home = ctx.h.home;
      const users = (await state(home)).users as User[];
      const user = (login: string) => users.find((u) => u.login === login) as User;
      // Three recordings: two of alice's (the newer listed first), one of bob's.
      const now = Math.floor(Date.now() / 1000);
      const [older, newer, bobs] = [0, 1, 2].map(() => randomBytes(6).toString('hex')) as [string, string, string];
      await writeRecording(home, older, user('alice'), now - 600, 65);
      await writeRecording(home, newer, user('alice'), now - 300, 5);
      await writeRecording(home, bobs, user('bob'), now - 200, 5);
      // Until the operator offers them (sessions.record-self), neither command shows anything.
      const refused =
        /^⚠️ Replaying your own sessions is not offered on this host\.\nThe operator can allow it: berth config set sessions\.record-self on/;
      const [list0, replay0] = await Promise.all([ask(alice, 'recordings'), ask(bob, 'replay', { id: bobs })]);
      expect(list0.text).toMatch(refused);
      expect(replay0.text).toMatch(refused);
      await Promise.all([
        must(['config', 'set', 'sessions.record', 'output']),
        must(['config', 'set', 'sessions.record-self', 'on']),
        must(['config', 'set', 'sessions.record-exec', 'on']),
      ]);
      const notice = recordingNoticeFor((await state(home)) as State, user('alice')) as string;
      expect(notice).toMatch(/what you see \(not what you type\)/);
      const link = (r: Reply) => r.links.find((l) => l.startsWith(`${webUrl}/t#`));
      const noSuch = (id: string) => new RegExp(`^⚠️ There is no session recording ${id}\\.\nYour recordings: /recordings`);

      // Each chat's replies are paced on their own: alice's story and bob's side by side.
      const alices = async () => {
        expect((await ask(alice, 'status')).text).toMatch(new RegExp(`main — 🟢 running[\\s\\S]*\n\n🔴 [^\n]*\n${literally(notice)}`));
        const helpAt = driver.mark();
        await driver.command(alice, 'help');
        await driver.waitFor(alice, (r) => r.text.includes('/tokens'), { after: helpAt });
        const help = driver
          .replies(alice, helpAt)
          .map((r) => r.text)
          .join('\n');
        expect(help).toContain(notice);
        expect(help).toContain('/recordings —');
        expect(help).toContain('/replay <id> —');
        const list = await ask(alice, 'recordings');
        expect(list.private).toBe(true);
        expect(list.text).toMatch(new RegExp(`· main · ssh · 5s · \\S+ · output only · id ${newer}\n• [^\n]* · main · ssh · 1m5s · `));
        expect(list.text).not.toContain(bobs);
        expect(list.buttons.map((b) => b.data)).toEqual([`rec:${newer}`, `rec:${older}`]);
        // Another's id gets the answer of one that does not exist.
        expect((await ask(alice, 'replay', { id: bobs })).text).toMatch(noSuch(bobs));
        const replay = await ask(alice, 'replay', { id: older });
        expect(replay.private).toBe(true);
        expect(link(replay), JSON.stringify(replay)).toBeDefined();
        expect(await daemonLog(home)).not.toContain(link(replay)?.slice(`${webUrl}/t#`.length));
        // With sessions.record-exec, a recorded user's /exec output is a recording of its own.
        const ran = await ask(alice, 'exec', { command: 'echo EXEC-$((2*21))' }, (r) => /Exit code/.test(r.text));
        const id = /Recorded \(([0-9a-f]{12})\)/.exec(ran.text)?.[1] ?? '';
        expect(ran.text).toContain('EXEC-42');
        const cast = parseCast(await readFile(join(home, 'recordings', `${id}.cast`), 'utf8'));
        expect(cast.header).toMatchObject({
          command: 'echo EXEC-$((2*21))',
          berth: { via: 'chat', user: 'alice', userId: user('alice').id },
        });
        expect(cast.events.map((e) => e[2]).join('')).toMatch(/EXEC-42\r\n[\s\S]*exit code 0/);
      };
      const bobsSide = async () => {
        const list = await ask(bob, 'recordings');
        expect(list.text).toContain(bobs);
        expect(list.text).not.toContain(older);
        expect((await ask(bob, 'replay', { id: '0123456789ab' })).text).toMatch(noSuch('0123456789ab'));
        expect((await ask(bob, 'replay', { id: 'nothex!' })).text).toMatch(/^⚠️ "nothex!" is not a recording id\./);
        // The list's button gives a link too.
        const at = driver.mark();
        await driver.press(bob, list, `rec:${bobs}`);
        const pressed = await driver.waitFor(bob, (r) => /Replay your session/.test(r.text), { after: at });
        expect(pressed.private).toBe(true);
        expect(link(pressed), JSON.stringify(pressed)).toBeDefined();
      };
      await Promise.all([alices(), bobsSide()]);
      await Promise.all([must(['config', 'unset', 'sessions.record']), must(['config', 'unset', 'sessions.record-exec'])]);
    });

    it('/upload then /download round-trips random binary bytes exactly', async () => {
      const { driver, alice } = ctx;
      const data = randomBytes(200_000);
      const at = driver.mark();
      await driver.upload(alice, { name: 'blob.bin', data }, 'inbox');
      const saved = await driver.waitFor(alice, (r) => /Saved/.test(r.text), { after: at });
      expect(saved.text).toContain('/home/alice/inbox/blob.bin');
      expect(saved.text).toContain('200000 bytes');
      const file = await ctx.ask(ctx.alice, 'download', { path: 'inbox/blob.bin' }, (r) => r.files.length > 0);
      expect(file.files[0]?.name).toBe('blob.bin');
      expect(file.files[0]?.data.equals(data)).toBe(true);
      expect(file.private).toBe(true);
    });

    it('a prompt to the agent streams its reply to the end; the key is never shown or stored in the clear', {
      timeout: 300_000,
    }, async () => {
      const { driver, alice, key } = ctx;
      const at = driver.mark();
      await driver.secret(alice, 'anthropic', key);
      const saved = await driver.waitFor(alice, (r) => /key is saved/.test(r.text), { after: at });
      expect(saved.private).toBe(true);

      const asked = driver.mark();
      await driver.prompt(alice, 'make hello.txt');
      const first = await driver.waitFor(alice, (r) => !r.edit && /🤖/.test(r.text), { after: asked, timeoutMs: 150_000 });
      expect(first.private).toBe(true);
      // The last edit ends with the stand-in's answer (earlier ones may hold it with "Working…" after it).
      const last = await driver.waitFor(alice, (r) => r.edit && r.messageId === first.messageId && /Done: [^\n]*$/.test(r.text.trim()), {
        after: asked,
        timeoutMs: 150_000,
      });
      expect(last.text).toContain('🔧 Bash: echo hi > hello.txt');
      expect(last.text).not.toMatch(/Working…/);
      expect(driver.edits(first.messageId)).toBeGreaterThanOrEqual(2);
      expect((await ctx.must(['vm', 'exec', 'alice', '--', 'cat', 'work/hello.txt'])).stdout.trim()).toBe('hi');
      // The key reached the stand-in API only through the agent…
      expect(stand?.conversation()[0]?.headers['x-api-key']).toBe(key);
      // …and nowhere else.
      expect(driver.everything()).not.toContain(key);
      expect(await daemonLog(ctx.h.home)).not.toContain(key);
      expect(await stateText(ctx.h.home)).not.toContain(key);
      const container = await docker.getContainer(await vmContainer('alice')).inspect();
      expect(JSON.stringify(container)).not.toContain(key);
      for (const id of (container as unknown as { ExecIDs?: string[] | null }).ExecIDs ?? [])
        expect(JSON.stringify(await docker.getExec(id).inspect())).not.toContain(key);
    });

    it('a long answer full of markup characters arrives whole and in order', { timeout: 300_000 }, async () => {
      const { driver, alice } = ctx;
      const answer = markedText(3000);
      const lines = answer.split('\n');
      const asked = driver.mark();
      await driver.prompt(alice, 'marked answer 3000');
      const first = await driver.waitFor(alice, (r) => !r.edit && /🤖/.test(r.text), { after: asked, timeoutMs: 150_000 });
      await driver.waitFor(alice, (r) => r.edit && r.messageId === first.messageId && !/Working…/.test(r.text), {
        after: asked,
        timeoutMs: 150_000,
      });
      // In the reply itself, in messages after it, or as answer.md when it takes more than a few.
      await driver.waitFor(alice, (r) => r.text.includes(lines.at(-1) as string) || r.files.some((f) => f.name === 'answer.md'), {
        after: asked,
        timeoutMs: 60_000,
      });
      const said = driver.replies(alice, asked);
      const file = said.flatMap((r) => r.files).find((f) => f.name === 'answer.md');
      if (file) {
        expect(file.data.toString('utf8')).toBe(answer);
        return;
      }
      // Each message as it is now, in the order they appeared.
      const latest = new Map<string, string>();
      for (const r of said) latest.set(r.messageId, r.text);
      const joined = [...latest.values()].join('\n');
      let at = -1;
      for (const line of lines) {
        const found = joined.indexOf(line, at + 1);
        expect(found, `${line}\n---\n${joined}`).toBeGreaterThan(at);
        at = found;
      }
    });

    describe('apps from chat', () => {
      const APP = 'hello';
      const LINE = 'hello from the chat app';
      /** A bot that prints a line and waits: nothing to install, quick to build. */
      const BOT = `import time\nprint(${JSON.stringify(LINE)}, flush=True)\nwhile True:\n    time.sleep(3600)\n`;
      const appOf = async (name = APP) =>
        ((await state(ctx.h.home)).apps ?? []).find((a: { user: string; name: string }) => a.user === 'alice' && a.name === name) as
          | { containerId: string | null; status: string }
          | undefined;
      const running = async () => {
        const id = (await appOf())?.containerId;
        return id ? (await docker.getContainer(id).inspect()).State.Running : false;
      };

      it('/deploy with an attached .py file: progress in one reply, edited, ending with the app running', {
        timeout: 240_000,
      }, async () => {
        const { driver, alice } = ctx;
        const at = driver.mark();
        await driver.attach(alice, 'deploy', { name: 'hello.py', data: Buffer.from(BOT) }, { name: APP });
        const first = await driver.waitFor(alice, (r) => !r.edit && /Deploying hello/.test(r.text), { after: at });
        expect(first.private).toBe(true);
        // A second deploy while this one runs is refused, politely; the first goes on.
        const again = driver.mark();
        await driver.attach(alice, 'deploy', { name: 'hello.py', data: Buffer.from(BOT) }, { name: APP });
        expect((await driver.waitFor(alice, (r) => !r.edit, { after: again })).text).toMatch(/Your deploy of hello is still running/);
        const done = await driver.waitFor(alice, (r) => r.messageId === first.messageId && /Deployed|failed/.test(r.text), {
          after: at,
          timeoutMs: 200_000,
        });
        expect(done.text).toMatch(/✅ Deployed hello\./);
        expect(done.text).toMatch(/hello — 🟢 running/);
        expect(done.text).toContain('runs hello.py');
        expect(done.buttons.map((b) => b.data)).toEqual(['app:hello:logs', 'app:hello:restart', 'app:hello:stop', 'app:hello:remove']);
        expect(driver.edits(first.messageId)).toBeGreaterThanOrEqual(1);
        expect(await running()).toBe(true);
      });

      it('/apps lists it with a button that opens it; /app shows its details and buttons', async () => {
        const { driver, alice } = ctx;
        const list = await ctx.ask(alice, 'apps');
        expect(list.text).toMatch(/hello — 🟢 running · 0 restarts · up \d/);
        expect(list.buttons.map((b) => b.data)).toEqual([`app:${APP}`]);
        const at = driver.mark();
        await driver.press(alice, list, `app:${APP}`);
        const opened = await driver.waitFor(alice, (r) => r.messageId === list.messageId && r.edit, { after: at });
        expect(opened.text).toContain('Limits: 0.5 CPU · 256m RAM · 100 processes');
        const details = await ctx.ask(alice, 'app', { name: APP });
        expect(details.private).toBe(true);
        expect(details.text).toMatch(/Source: files \(python, runs hello\.py\)/);
        expect(details.text).toMatch(/Image: built \S+ ago in [\d.]+ s/);
        expect(details.text).toContain('Restarts: 0');
        expect(details.buttons.map((b) => b.label)).toEqual(['📜 Logs', '🔁 Restart', '⏹ Stop', '🗑 Remove']);
      });

      it('/applogs shows what it printed', async () => {
        let reply = await ctx.ask(ctx.alice, 'applogs', { name: APP });
        // Its first line may take a moment to reach the engine's log.
        for (let n = 0; n < 20 && !reply.text.includes(LINE); n++) {
          await new Promise((r) => setTimeout(r, 500));
          reply = await ctx.ask(ctx.alice, 'applogs', { name: APP, lines: '5' });
        }
        expect(reply.text).toContain(LINE);
        expect(reply.private).toBe(true);
        expect((await ctx.ask(ctx.alice, 'applogs', { name: APP, lines: '500' })).text).toMatch(/^⚠️ "500" is not a line count/);
      });

      it('an app serving HTTP gets an Open button: a private one-time link for its owner only', { timeout: 120_000 }, async () => {
        const { driver, alice, bob, webUrl } = ctx;
        const web =
          'import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n        self.wfile.write(b"hi")\nhttp.server.HTTPServer(("", int(os.environ["PORT"])), H).serve_forever()\n';
        const at = driver.mark();
        await driver.attach(alice, 'deploy', { name: 'site.py', data: Buffer.from(web) }, { name: 'site', options: 'port:8000' });
        const done = await driver.waitFor(alice, (r) => /✅ Deployed site\.|failed/.test(r.text), { after: at, timeoutMs: 100_000 });
        expect(done.buttons.map((b) => b.data)).toContain('app:site:open');
        const details = await ctx.ask(alice, 'app', { name: 'site' });
        const before = driver.mark();
        await driver.press(alice, details, 'app:site:open');
        const opened = await driver.waitFor(alice, (r) => /Open site/.test(r.text), { after: before });
        expect(opened.private).toBe(true);
        const link = opened.links.find((l) => l.startsWith(`${webUrl}/t#`));
        expect(link, JSON.stringify(opened)).toBeDefined();
        expect(opened.text).toContain('app--site--alice.localhost');
        // Bob asking for alice's app by name gets his own (none), never a link to hers.
        const theirs = await ctx.ask(bob, 'app', { name: 'site' });
        expect(theirs.links).toEqual([]);
        expect(theirs.text).not.toContain('app--site--alice');
        await ctx.ask(alice, 'app', { name: 'site' });
        await ctx.must(['app', 'remove', 'alice/site']);
      });

      it('another user can neither open the app nor press its buttons', async () => {
        const { driver, alice, bob } = ctx;
        expect((await ctx.ask(bob, 'app', { name: APP })).text).toMatch(/^⚠️ bob has no app "hello"\.\nYour apps: \/apps/);
        const details = await ctx.ask(alice, 'app', { name: APP });
        const at = driver.mark();
        const { note } = await driver.press(bob, details, `app:${APP}:stop`);
        expect(note).toMatch(driver.name === 'discord' ? /This button is not for you/ : /This button is no longer valid/);
        expect(driver.replies(alice, at)).toEqual([]);
        expect(await running()).toBe(true);
      });

      it('Stop asks first; the second press stops it', async () => {
        const { driver, alice } = ctx;
        const details = await ctx.ask(alice, 'app', { name: APP });
        let at = driver.mark();
        await driver.press(alice, details, `app:${APP}:stop`);
        const question = await driver.waitFor(alice, (r) => r.messageId === details.messageId && r.edit, { after: at });
        expect(question.text).toMatch(/^Stop hello\?/);
        expect(question.buttons.map((b) => b.data)).toEqual([`app:${APP}:stop!`, `app:${APP}`]);
        expect(await running()).toBe(true);
        at = driver.mark();
        await driver.press(alice, question, `app:${APP}:stop!`);
        const stopped = await driver.waitFor(alice, (r) => r.messageId === details.messageId && /⏹ Stopped/.test(r.text), {
          after: at,
          timeoutMs: 60_000,
        });
        expect(stopped.text).toMatch(/hello — ⚪ stopped/);
        expect(stopped.buttons.map((b) => b.data)).toContain(`app:${APP}:start`);
        expect(await running()).toBe(false);
        expect((await appOf())?.status).toBe('stopped');
      });

      it('/token makes an API token shown once; revoking it in /tokens (asked first) makes it fail', async () => {
        const { driver, alice } = ctx;
        const made = await ctx.ask(alice, 'token', { name: 'ci' });
        expect(made.private).toBe(true);
        expect(made.text).toMatch(/shown this once/);
        const token = /berth_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/.exec(made.text)?.[0] as string;
        expect(token, made.text).toBeTruthy();
        const verified = verifyApiToken((await state(ctx.h.home)) as State, token);
        expect(verified?.user.login).toBe('alice');
        expect(await stateText(ctx.h.home)).not.toContain(token);
        const list = await ctx.ask(alice, 'tokens');
        expect(list.text).toContain(`ci (id ${verified?.tokenId})`);
        const revoke = `tok:${verified?.tokenId}`;
        let at = driver.mark();
        await driver.press(alice, list, revoke);
        const question = await driver.waitFor(alice, (r) => r.messageId === list.messageId && r.edit, { after: at });
        expect(question.text).toMatch(/^Revoke the token ci/);
        expect(verifyApiToken((await state(ctx.h.home)) as State, token)).not.toBeNull();
        at = driver.mark();
        await driver.press(alice, question, `${revoke}:yes`);
        await driver.waitFor(alice, (r) => r.messageId === list.messageId && /is revoked/.test(r.text), { after: at });
        expect(verifyApiToken((await state(ctx.h.home)) as State, token)).toBeNull();
      });

      it('a hostile archive (an entry ../x) is refused with a clear error, and no app is made', async () => {
        const { driver, alice } = ctx;
        const p = pack();
        const chunks: Buffer[] = [];
        p.on('data', (c: Buffer) => chunks.push(c));
        const ended = new Promise((r) => p.on('end', r));
        p.entry({ name: 'main.py', mode: 0o644 }, 'print(1)\n');
        p.entry({ name: '../x', mode: 0o644 }, 'escaped\n');
        p.finalize();
        await ended;
        const at = driver.mark();
        await driver.attach(alice, 'deploy', { name: 'evil.tar.gz', data: gzipSync(Buffer.concat(chunks)) }, { name: 'evil' });
        const refused = await driver.waitFor(alice, (r) => /failed/.test(r.text), { after: at, timeoutMs: 60_000 });
        expect(refused.text).toMatch(/❌ The deploy of evil failed\.\n⚠️ The archive was refused, nothing was unpacked: [^\n]*\.\.\/x/);
        expect(await appOf('evil')).toBeUndefined();
        expect((await ctx.ask(alice, 'apps')).text).not.toContain('evil');
      });
    });

    it('/backups, /backup, /restore and Download: only where the plan offers them, each person’s own snapshots only', {
      timeout: 300_000,
    }, async () => {
      const { driver, alice, bob, ask, must, webUrl } = ctx;
      const done = (r: Reply) => /^(✅|⚠️)/.test(r.text);
      const offered =
        /^⚠️ Managing your own backups is not offered on your plan\.\nThe operator can allow it: berth plan set (coder|default) --backup-self$/;
      const [l0, b0, r0] = [await ask(alice, 'backups'), await ask(alice, 'backup'), await ask(alice, 'restore', { id: 'deadbeef' })];
      for (const r of [l0, b0, r0]) expect(r.text).toMatch(offered);
      // bob on alice's plan, with a VM of his own (made meanwhile; destroyed at the end).
      await must(['plan', 'set', 'coder', '--backup-self']);
      await must(['user', 'set', 'bob', '--plan', 'coder']);
      const bobsVm = must(['vm', 'create', 'bob']);
      expect((await ask(alice, 'backups')).text).toBe(
        '⚠️ Backups are not set up on this host yet.\nAsk the operator to set them up (berth backup init).',
      );
      await must(['backup', 'init']);
      const exec = async (person: Person, command: string) =>
        (await ask(person, 'exec', { command }, (r) => /Exit code/.test(r.text))).text;
      expect(await exec(alice, 'echo before-restore > ~/kept.txt')).toContain('Exit code: 0');
      const took = await ask(alice, 'backup', {}, done, 60_000);
      const id = /Snapshot ([0-9a-f]{8}) of main/.exec(took.text)?.[1] ?? '';
      expect(took.text, took.text).toMatch(/^✅ Snapshot [0-9a-f]{8} of main: \d+ files/);
      expect(await exec(alice, 'echo after > ~/kept.txt && cat ~/kept.txt')).toContain('after');
      const list = await ask(alice, 'backups');
      expect(list.private).toBe(true);
      expect(list.text).toMatch(new RegExp(`Snapshots of main, newest first\n• \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC · user · id ${id}`));
      expect(list.buttons.map((b) => b.data)).toEqual([`bkr:${id}:main`, `bkd:${id}:main`]);

      // bob sees none of alice's: her id gets the answer of one that does not exist.
      await bobsVm;
      expect((await ask(bob, 'backups')).text).toBe('Your VM main has no snapshots yet. Take one now with /backup.');
      const theirs = await ask(bob, 'restore', { id });
      const unknown = await ask(bob, 'restore', { id: 'deadbeef' });
      expect(theirs.text).toBe(`⚠️ You have no snapshot ${id}.\nYour snapshots: /backups`);
      expect(unknown.text).toBe(theirs.text.replace(id, 'deadbeef'));
      expect(theirs.buttons).toEqual([]);

      // /restore asks first; bob's forged press of alice's button changes nothing.
      const question = await ask(alice, 'restore', { id }, (r) => r.buttons.length > 0);
      expect(question.text).toMatch(new RegExp(`^Restore main as it was at .* \\(snapshot ${id}\\)\\?`));
      expect(question.buttons.map((b) => b.data)).toEqual([`bkrestore:${id}:main:yes`, `bkrestore:${id}:main:no`]);
      const at = driver.mark();
      const { note } = await driver.press(bob, question, `bkrestore:${id}:main:yes`);
      expect(note).toMatch(driver.name === 'discord' ? /This button is not for you/ : /This button is no longer valid/);
      expect(driver.replies(alice, at)).toEqual([]);
      expect(driver.replies(bob, at).filter((r) => /restor/i.test(r.text))).toEqual([]);
      expect(await exec(alice, 'cat ~/kept.txt')).toContain('after');
      // Her own press restores: the old content back, the VM running again, a safety snapshot.
      const pressed = driver.mark();
      await driver.press(alice, question, `bkrestore:${id}:main:yes`);
      const restored = await driver.waitFor(alice, (r) => r.messageId === question.messageId && done(r), {
        after: pressed,
        timeoutMs: 120_000,
      });
      const safety = /just before are snapshot ([0-9a-f]{8})/.exec(restored.text)?.[1] ?? '';
      expect(restored.text, restored.text).toMatch(
        new RegExp(`^✅ main restored from snapshot ${id} \\(.*\\)\\. .* main is running again\\.$`),
      );
      expect(restored.buttons).toEqual([]);
      expect(await exec(alice, 'cat ~/kept.txt')).toContain('before-restore');
      const after = await ask(alice, 'backups');
      expect(after.text).toMatch(new RegExp(`· safety · id ${safety}\n• [^\n]* · user · id ${id}`));

      // Download: a one-time link (in chat for alice, from the CLI for the operator), spent for a .tar.gz.
      const linkAt = driver.mark();
      await driver.press(alice, list, `bkd:${id}:main`);
      const given = await driver.waitFor(alice, (r) => /Download snapshot/.test(r.text), { after: linkAt });
      expect(given.private).toBe(true);
      const operator = JSON.parse((await must(['home', 'backups', 'alice', '--download', id, '--json'])).stdout) as { url: string };
      for (const url of [given.links.find((l) => l.startsWith(`${webUrl}/t#`)), operator.url]) {
        expect(url, JSON.stringify(given)).toBeDefined();
        const ticket = (url as string).slice((url as string).indexOf('#') + 1);
        const spend = () =>
          fetch(`${webUrl}/t`, {
            method: 'POST',
            headers: { origin: webUrl, 'content-type': 'application/json' },
            body: JSON.stringify({ ticket }),
          });
        const first = await spend();
        expect(first.status).toBe(200);
        const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
        const { location } = (await first.json()) as { location: string };
        expect((await spend()).status).toBe(410);
        const got = await fetch(`${webUrl}${location}`, { headers: { cookie } });
        expect(got.status).toBe(200);
        expect(got.headers.get('content-disposition')).toMatch(/^attachment; filename="alice-main-/);
        const tar = gunzipSync(Buffer.from(await got.arrayBuffer()));
        expect(tar.includes(Buffer.from('data/kept.txt'))).toBe(true);
        expect(tar.includes(Buffer.from('before-restore\n'))).toBe(true);
      }
      expect(await daemonLog(ctx.h.home)).not.toContain(operator.url.slice(operator.url.indexOf('#') + 1));
      await must(['vm', 'destroy', 'bob', '--yes']);
    });

    it('a forged press of alice’s /destroy button by bob changes nothing', async () => {
      const { driver, alice, bob } = ctx;
      const confirm = await ctx.ask(alice, 'destroy', {}, (r) => r.buttons.length > 0);
      expect(confirm.buttons.map((b) => b.data)).toContain('destroy:main:wipe');
      const at = driver.mark();
      const { note } = await driver.press(bob, confirm, 'destroy:main:wipe');
      // Discord refuses a press of someone else's button; Telegram one from another chat than the button's.
      expect(note).toMatch(driver.name === 'discord' ? /This button is not for you/ : /This button is no longer valid/);
      // The press was answered without reaching the core: nothing was said to alice, her VM runs.
      expect(driver.replies(alice, at)).toEqual([]);
      expect(driver.replies(bob, at).filter((r) => /destroy/i.test(r.text))).toEqual([]);
      expect((await docker.getContainer(await vmContainer('alice')).inspect()).State.Running).toBe(true);
      expect((await ctx.ask(alice, 'status')).text).toMatch(/main — 🟢 running/);
      // Her own press of Cancel is taken: the question becomes the answer, its buttons gone.
      const mine = driver.mark();
      await driver.press(alice, confirm, 'destroy:main:cancel');
      const answered = await driver.waitFor(alice, (r) => r.messageId === confirm.messageId && r.edit, { after: mine });
      expect(answered.text).toBe('Nothing was destroyed.');
      expect(answered.buttons).toEqual([]);
      expect((await docker.getContainer(await vmContainer('alice')).inspect()).State.Running).toBe(true);
    });

    it('revoking a user closes access: the next command is refused and does nothing', async () => {
      await ctx.must(['user', 'revoke', 'bob']);
      const before = await stateText(ctx.h.home);
      const reply = await ctx.ask(ctx.bob, 'create');
      expect(reply.text).toBe(REFUSAL.refused);
      expect(await findVmContainer('bob')).toBeNull();
      expect(await stateText(ctx.h.home)).toBe(before);
    });

    it('/help shows each person their commands', async () => {
      // Help takes as many messages as the front-end needs: all that came until its last line.
      const help = async (person: Person, last: string) => {
        const at = ctx.driver.mark();
        await ctx.driver.command(person, 'help');
        await ctx.driver.waitFor(person, (r) => r.text.includes(last), { after: at });
        return ctx.driver
          .replies(person, at)
          .map((r) => r.text)
          .join('\n');
      };
      const mine = await help(ctx.alice, '/tokens');
      for (const command of ['/exec', '/deploy', '/apps', '/app ', '/applogs', '/token ', '/tokens']) expect(mine).toContain(command);
      expect(mine).not.toContain('/broadcast');
      // Nothing is recorded now: nothing said about it.
      expect(mine).not.toMatch(/recorded\. Each/);
      expect(await help(ctx.admin, '/broadcast')).toContain('/admin_info');
    });

    it('refusals are clear: a usage error, a VM that does not exist, an admin command from a user', async () => {
      const { alice, ask } = ctx;
      const usage = await ask(alice, 'exec');
      expect(usage.text).toMatch(/^⚠️ Give the command to run\.\nFor example: \/exec/);
      expect(usage.private).toBe(true);
      expect((await ask(alice, 'stop', { vm: 'nosuch' })).text).toMatch(/^⚠️ There is no VM alice\/nosuch\./);
      expect((await ask(alice, 'exec', { command: 'true', vm: 'nosuch' })).text).toMatch(/^⚠️ There is no VM alice\/nosuch\./);
      const before = await stateText(ctx.h.home);
      expect((await ask(alice, 'config_ram', { value: '64g' })).text).toBe(UNKNOWN);
      expect(await stateText(ctx.h.home)).toBe(before);
      expect((await docker.getContainer(await vmContainer('alice')).inspect()).State.Running).toBe(true);
    });

    extras.cases?.(ctx);
  });
}
