import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, freePort, stateText } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, MINIMAL_IMAGE, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import { longText, startFakeMessagesApi, userTexts } from '../helpers/fake-messages-api.js';
import { agentImage } from '../helpers/images.js';

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;
type Sent = Fake['sent'][number];
type Stand = Awaited<ReturnType<typeof startFakeMessagesApi>>;

const ALICE = { id: 5101, username: 'alice' };
const BOB = { id: 5102, username: 'bob' };
const CAROL = { id: 5103, username: 'carol' };
const KEY = `sk-ant-test-${Math.random().toString(36).slice(2, 14)}zzKEY`;

let h: VmHome;
let fake: Fake;
let stand: Stand;
let build = { tag: '', seconds: 0, sizeBytes: 0 };
let metricsAddress = '';
const run = (args: string[], input?: string) => berth(h.home, args, { input });

async function must(args: string[], input?: string) {
  const r = await run(args, input);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Sends `text` as `user`; the bot's next message to them that matches. */
async function ask(user: { id: number }, text: string, match: (s: Sent) => boolean = () => true, timeoutMs = 30_000): Promise<Sent> {
  const after = fake.sent.length;
  fake.sendText(user, text);
  return fake.waitFor((s) => s.chatId === user.id && match(s), { after, timeoutMs });
}

/** Sends a prompt; the streamed reply's message id and its final text (the edit that ends the run). */
async function prompt(
  text: string,
  done: RegExp,
  timeoutMs = 150_000,
): Promise<{ id: number; final: string; edits: Sent[]; after: number }> {
  const after = fake.sent.length;
  fake.sendText(ALICE, text);
  const seen = () =>
    `\nsent: ${JSON.stringify(fake.sent.slice(after).map((s) => `${s.method}: ${s.text}`))}\nAPI: ${JSON.stringify(
      stand.requests.map(
        (r) =>
          `${r.method} ${r.path} ${r.body?.messages?.length ?? '-'} ${JSON.stringify(r.body?.messages?.at(-1)?.content ?? '').slice(0, 300)}`,
      ),
    )}`;
  const first = await fake
    .waitFor((s) => s.chatId === ALICE.id && s.method === 'sendMessage' && /🤖/.test(s.text), { after, timeoutMs })
    .catch((err: Error) => {
      throw new Error(`${err.message}${seen()}`);
    });
  const last = await fake
    // The run's last edit: earlier ones may show the answer with "Working…" after it.
    .waitFor(
      (s) =>
        s.chatId === ALICE.id &&
        s.method === 'editMessageText' &&
        s.messageId === first.messageId &&
        done.test(s.text) &&
        !/⏳ Working…/.test(s.text),
      {
        after,
        timeoutMs,
      },
    )
    .catch((err: Error) => {
      throw new Error(`${err.message}${seen()}`);
    });
  const edits = fake.sent.slice(after).filter((s) => s.method === 'editMessageText' && s.messageId === first.messageId);
  return { id: first.messageId, final: last.text, edits, after };
}

/** The agent's processes left in alice's VM (anything but the entrypoint's idling and ps itself). */
async function claudeProcesses(): Promise<string[]> {
  const ps = await must(['vm', 'exec', 'alice', '--', 'ps', '-eo', 'comm=']);
  return ps.stdout.split('\n').filter((c) => /claude|bash/.test(c));
}

beforeAll(async () => {
  h = await vmHome();
  build = await agentImage(h.home);
  fake = await startFakeBotApi();
  metricsAddress = `127.0.0.1:${await freePort()}`;
  for (const args of [
    ['config', 'set', 'telegram.api-root', fake.apiRoot],
    ['config', 'set', 'telegram.rate-limit', '1000'],
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'web.enabled', 'off'],
    ['config', 'set', 'agent.timeout', '120s'],
    ['config', 'set', 'metrics.listen', metricsAddress],
    ['plan', 'add', 'coder', '--agent', 'full'],
    ['plan', 'add', 'plain'],
    ['user', 'allow', 'alice', '--telegram-id', String(ALICE.id), '--plan', 'coder'],
    ['user', 'allow', 'bob', '--telegram-id', String(BOB.id), '--plan', 'plain'],
    ['user', 'allow', 'carol', '--telegram-id', String(CAROL.id), '--plan', 'coder'],
  ]) {
    await must(args);
  }
  await must(['vm', 'create', 'alice', '--image', build.tag]);
  await must(['vm', 'create', 'carol', '--image', MINIMAL_IMAGE]);
  // The stand-in API listens on the test network's own gateway, the host side of the VMs' bridge:
  // VMs reach it only through network.host-allow, as an operator's LLM gateway would be reached.
  const net = await docker.getNetwork(h.network).inspect();
  const gateway = net.IPAM?.Config?.[0]?.Gateway as string;
  stand = await startFakeMessagesApi({ host: gateway });
  await must(['config', 'set', 'network.host-allow', `tcp/${stand.port}`]);
  await must(['config', 'set', 'agent.api-base-url', stand.url]);
  await must(['network', 'apply']);
  await must(['telegram', 'setup'], `${fake.token}\n`);
  await must(['daemon', 'start']);
  await waitFor('the bot to poll', async () => fake.calls.some((c) => c.method === 'getUpdates'));
}, 1_200_000);

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  if (process.env.BERTH_TEST_SHOW_LOG) process.stderr.write(await daemonLog(h.home));
  await fake?.close();
  await stand?.close();
  await h.cleanup();
});

describe('a coding agent in the VM, driven from chat', () => {
  it('the agent image says which agents it has; vm show tells', async () => {
    console.log(`agent image: ${(build.sizeBytes / 1024 ** 2).toFixed(0)} MB, built in ${build.seconds} s (0: reused)`);
    const alice = await berthJson<{ agents: string[]; agentRunning: boolean | null }>(h.home, ['vm', 'show', 'alice']);
    expect(alice.agents).toEqual(['claude']);
    expect(alice.agentRunning).toBe(false);
    const carol = await berthJson<{ agents: string[] }>(h.home, ['vm', 'show', 'carol']);
    expect(carol.agents).toEqual([]);
    expect((await must(['vm', 'show', 'alice'])).stdout).toMatch(/Agent:\s+claude, idle/);
    expect((await must(['vm', 'show', 'carol'])).stdout).toMatch(/Agent:\s+none in its image/);
    const inVm = await must(['vm', 'exec', 'alice', '--', 'claude', '--version']);
    expect(inVm.stdout).toMatch(/2\.1\.328/);
  });

  it('refuses clearly: a plan without an agent, a VM without one, a user without a key', async () => {
    expect((await ask(BOB, 'hello agent')).text).toMatch(/plan \(plain\) has no coding agent/);
    expect((await ask(CAROL, 'hello agent')).text).toMatch(/VM carol\/main has no coding agent/);
    expect((await ask(ALICE, 'hello agent')).text).toMatch(/not given berth your anthropic API key/);
    expect(stand.requests).toHaveLength(0);
  });

  it('/setkey deletes the message at once and keeps the key out of the state, the logs, --json and docker inspect', async () => {
    const update = fake.sendText(ALICE, `/setkey anthropic ${KEY}`);
    const reply = await fake.waitFor((s) => s.chatId === ALICE.id && /key is saved/.test(s.text));
    expect(reply.text).not.toContain(KEY);
    expect(fake.deleted).toContainEqual({ chatId: ALICE.id, messageId: update.message.message_id });
    const state = await stateText(h.home);
    expect(state).not.toContain(KEY);
    expect(state).toContain('"secrets"');
    const listed = await must(['user', 'secret', 'list', 'alice', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([{ name: 'anthropic', setAt: expect.any(String) }]);
    expect((await must(['user', 'show', 'alice', '--json'])).stdout).not.toContain(KEY);
  });

  it('runs the agent as the user in ~/work: hello.txt made, the reply edited as it goes and ending with the answer', {
    timeout: 240_000,
  }, async () => {
    const { final, edits } = await prompt('make hello.txt', /Done:/);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    // Plain text goes without a parse mode: the tool line arrives exactly as the agent wrote it.
    expect(edits.some((e) => /🔧 Bash: echo hi > hello\.txt/.test(e.text))).toBe(true);
    expect(final).toMatch(/Done:/);
    const file = await must(['vm', 'exec', 'alice', '--', 'stat', '-c', '%u:%g %n', 'work/hello.txt']);
    expect(file.stdout.trim()).toBe('1000:1000 work/hello.txt');
    expect((await must(['vm', 'exec', 'alice', '--', 'cat', 'work/hello.txt'])).stdout.trim()).toBe('hi');
    // The key reached the API (only through the agent's process)…
    const calls = stand.conversation();
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls[0]?.headers['x-api-key']).toBe(KEY);
    // …and nowhere else: not the container's environment, not the exec's, not the log.
    const container = await docker.getContainer(await vmContainer('alice')).inspect();
    expect(JSON.stringify(container)).not.toContain(KEY);
    const execs = (container as unknown as { ExecIDs?: string[] | null }).ExecIDs ?? [];
    for (const id of execs) expect(JSON.stringify(await docker.getExec(id).inspect())).not.toContain(KEY);
    const log = await daemonLog(h.home);
    expect(log).not.toContain(KEY);
    expect(log).toMatch(/"agent run"/);
    expect(log).toMatch(/"outcome":"done"/);
    console.log(`audit: ${log.split('\n').find((l) => l.includes('"agent run"'))}`);
    const conversation = JSON.parse(await readFile(join(h.home, 'state.json'), 'utf8')).users.find(
      (u: { login: string }) => u.login === 'alice',
    ).conversation;
    expect(conversation).toMatchObject({ agent: 'claude', vm: 'main' });
  });

  it('a second message continues the conversation (the API sees the earlier turn), naming a file sent meanwhile; /new starts afresh', {
    timeout: 240_000,
  }, async () => {
    const after = fake.sent.length;
    fake.sendDocument(ALICE, 'notes.txt', Buffer.from('some notes\n'));
    const saved = await fake.waitFor((s) => s.chatId === ALICE.id && /📎 Saved/.test(s.text), { after });
    expect(saved.text).toMatch(/\/home\/alice\/work\/notes\.txt/);
    expect((await must(['vm', 'exec', 'alice', '--', 'cat', 'work/notes.txt'])).stdout.trim()).toBe('some notes');
    const before = stand.conversation().length;
    const { final } = await prompt('what did I ask?', /Answer \d+/);
    expect(final).toMatch(/I see [1-9]\d* earlier user turn/);
    const seen = stand.conversation().slice(before);
    const texts = userTexts(seen[0]?.body);
    expect(texts.some((t) => /make hello\.txt/.test(t))).toBe(true);
    expect(texts.some((t) => /Files I sent you.*notes\.txt/s.test(t))).toBe(true);

    expect((await ask(ALICE, '/new')).text).toMatch(/next message starts a new one/);
    // A stopped VM is started for the message, as SSH does.
    await must(['vm', 'stop', 'alice']);
    const fresh = stand.conversation().length;
    const again = await prompt('hello again', /Answer \d+/);
    expect(again.final).toMatch(/new conversation/);
    expect(again.final).toMatch(/started your VM alice\/main/);
    expect(again.final).toMatch(/I see 0 earlier user turn/);
    expect(userTexts(stand.conversation()[fresh]?.body).some((t) => /make hello\.txt/.test(t))).toBe(false);
    const shown = await ask(ALICE, '/agent', (s) => /Agent permission/.test(s.text));
    expect(shown.text).toMatch(/permission on your plan: full/);
    expect(shown.text).toMatch(/Conversation: claude in main/);
    expect(shown.text).toMatch(/Last run: done/);
  });

  it('a long answer comes as messages after the reply, in order; a longer one as answer.md; a photo goes into ~/work and the next prompt', {
    timeout: 300_000,
  }, async () => {
    const text = longText(9000);
    const lines = text.split('\n');
    const mid = await prompt('long answer 9000', /The answer follows/);
    const parts = () =>
      fake.sent
        .slice(mid.after)
        .filter((s) => s.chatId === ALICE.id && s.method === 'sendMessage' && s.messageId !== mid.id && /^line \d/.test(s.text));
    await waitFor('every part of the answer', async () => parts().some((s) => s.text.includes(lines.at(-1) as string)), 60_000);
    const got = parts().map((s) => s.text);
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got.length).toBeLessThanOrEqual(3);
    for (const part of got) expect(part.length).toBeLessThanOrEqual(4096);
    const joined = got.join('\n');
    let at = -1;
    for (const line of lines) {
      const found = joined.indexOf(line, at + 1);
      expect(found, line).toBeGreaterThan(at);
      at = found;
    }

    const longer = await prompt('long answer 20000', /The answer follows/);
    const file = await fake.waitFor((s) => s.chatId === ALICE.id && s.method === 'sendDocument', {
      after: longer.after,
      timeoutMs: 60_000,
    });
    expect(file.document?.name).toBe('answer.md');
    expect(file.document?.data.toString('utf8')).toBe(longText(20000));

    const after = fake.sent.length;
    const { message } = fake.sendPhoto(ALICE, Buffer.from('not really a jpeg\n'));
    const saved = await fake.waitFor((s) => s.chatId === ALICE.id && /📎 Saved/.test(s.text), { after });
    const name = `photo-${message.message_id}.jpg`;
    expect(saved.text).toContain(`/home/alice/work/${name}`);
    expect((await must(['vm', 'exec', 'alice', '--', 'cat', `work/${name}`])).stdout.trim()).toBe('not really a jpeg');
    const before = stand.conversation().length;
    await prompt('what is in the photo?', /Answer \d+/);
    expect(userTexts(stand.conversation()[before]?.body).some((t) => new RegExp(`Files I sent you.*${name}`, 's').test(t))).toBe(true);
  });

  it("a plan's read-only and edit modes reach the CLI: read-only runs no tool (no hello.txt), edit lets it write the file", {
    timeout: 300_000,
  }, async () => {
    try {
      for (const [mode, made] of [
        ['read-only', false],
        ['edit', true],
      ] as const) {
        await must(['vm', 'exec', 'alice', '--', 'rm', '-f', 'work/hello.txt']);
        await must(['plan', 'set', 'coder', '--agent', mode]);
        expect((await ask(ALICE, '/new')).text).toMatch(/next message starts a new one/);
        const before = stand.conversation().length;
        await prompt('make hello.txt', /Done:/);
        // The stand-in asked for the tool and heard back: run (edit), or refused by the CLI (read-only).
        expect(stand.conversation().length).toBeGreaterThan(before + 1);
        const ls = await berth(h.home, ['vm', 'exec', 'alice', '--', 'ls', 'work']);
        expect(ls.stdout.includes('hello.txt'), mode).toBe(made);
      }
    } finally {
      await must(['plan', 'set', 'coder', '--agent', 'full']);
      await ask(ALICE, '/new');
    }
  });

  it('/stop ends a stalled run, leaving no process in the VM; a message during a run waits its turn', { timeout: 240_000 }, async () => {
    const after = fake.sent.length;
    fake.sendText(ALICE, 'please stall');
    await waitFor('the stand-in to hold a stalled stream', async () => stand.stalled > 0, 90_000);
    const shown = await berthJson<{ agentRunning: boolean | null }>(h.home, ['vm', 'show', 'alice']);
    expect(shown.agentRunning).toBe(true);
    // The run is one of the daemon's sessions: what the idle policy counts as activity in the VM, and what berth sessions lists.
    const listed = await berthJson<{ sessions: Array<{ kind: string; vm: string; user: string }> }>(h.home, ['sessions']);
    expect(listed.sessions).toContainEqual(expect.objectContaining({ kind: 'agent', vm: 'alice/main', user: 'alice' }));
    expect((await ask(ALICE, 'and then this')).text).toMatch(/this message is next/);
    expect((await ask(ALICE, 'and one more')).text).toMatch(/one message is already waiting/);
    const stopped = await ask(ALICE, '/stop');
    expect(stopped.text).toMatch(/Stopping the agent/);
    await fake.waitFor((s) => s.chatId === ALICE.id && s.method === 'editMessageText' && /⏹ Stopped\./.test(s.text), {
      after,
      timeoutMs: 30_000,
    });
    // /stop dropped the waiting message too: no other run starts.
    const since = fake.sent.indexOf(stopped);
    await new Promise((r) => setTimeout(r, 3000));
    expect(fake.sent.slice(since).filter((s) => s.method === 'sendMessage' && /🤖/.test(s.text))).toEqual([]);
    await waitFor('no agent process left', async () => (await claudeProcesses()).length === 0, 20_000);
    expect(await daemonLog(h.home)).toMatch(/"outcome":"stopped"/);
  });

  it('agent.timeout ends a stalled run, leaving no process in the VM', { timeout: 240_000 }, async () => {
    await must(['config', 'set', 'agent.timeout', '6s']);
    const { final } = await prompt('stall once more', /⏱ Stopped/, 60_000);
    expect(final).toMatch(/agent\.timeout \(6s\)/);
    await waitFor('no agent process left', async () => (await claudeProcesses()).length === 0, 20_000);
    await must(['config', 'set', 'agent.timeout', '120s']);
    const log = await daemonLog(h.home);
    expect(log).toMatch(/"outcome":"timeout"/);
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    expect(metrics).toMatch(/berth_agent_runs_total\{agent="claude",outcome="done"\} [1-9]/);
    expect(metrics).toMatch(/berth_agent_runs_total\{agent="claude",outcome="stopped"\} 1/);
    expect(metrics).toMatch(/berth_agent_runs_total\{agent="claude",outcome="timeout"\} 1/);
    expect(metrics).toMatch(/berth_agent_tokens_total\{agent="claude",direction="in"\} [1-9]/);
    expect(metrics).not.toContain(KEY);
    expect(log).not.toContain(KEY);
  });

  it('user secret unset forgets the key; the next message says so', async () => {
    await must(['user', 'secret', 'unset', 'alice', 'anthropic']);
    expect((await ask(ALICE, 'hello once more')).text).toMatch(/not given berth your anthropic API key/);
    const r = await run(['user', 'secret', 'unset', 'alice', 'anthropic']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no anthropic secret/);
  });
});
