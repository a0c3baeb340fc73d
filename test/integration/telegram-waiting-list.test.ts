import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;

const ADMIN = { id: 1001, username: 'the_admin' };
const STRANGERS = Array.from({ length: 60 }, (_, i) => ({ id: 700_000 + i, username: `stranger${i}` }));
const LATECOMER = { id: 799_999, username: 'latecomer' };
const WELCOME = 'Hello! Your request for access was sent to the admins. You will get a message when it is decided.';
const FULL = 'Sorry, the waiting list for access is full right now. Please try /start again later.';
/** The digest's interval for this test (10 minutes in use): long enough for the burst to fall in one. */
const DIGEST_MS = 10_000;

let h: VmHome;
let fake: Fake;

interface UserRow {
  login: string;
  telegramId: number | null;
  status: string;
}

const repliesTo = (id: number) => fake.sent.filter((s) => s.chatId === id && s.method === 'sendMessage').map((s) => s.text as string);
const digests = () => repliesTo(ADMIN.id).filter((t) => t.includes('turned away while the waiting list was full'));
const announcements = () => repliesTo(ADMIN.id).filter((t) => t.startsWith('🙋 Access request'));

beforeAll(async () => {
  h = await vmHome();
  fake = await startFakeBotApi();
  for (const args of [
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'telegram.api-root', fake.apiRoot],
    ['config', 'set', 'telegram.admins', String(ADMIN.id)],
    // The stand-in server has no flood limits: the admin's 50 announcements need not be paced at one a second.
    ['config', 'set', 'telegram.throttle', 'off'],
  ]) {
    const r = await berth(h.home, args);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const setup = await berth(h.home, ['telegram', 'setup'], { input: `${fake.token}\n` });
  if (setup.code !== 0) throw new Error(setup.stderr);
  const start = await berth(h.home, ['daemon', 'start'], { env: { BERTH_TELEGRAM_DIGEST_MS: String(DIGEST_MS) } });
  if (start.code !== 0) throw new Error(start.stderr);
  await waitFor('the bot to poll', async () => fake.calls.some((c) => c.method === 'getUpdates'));
});

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  if (process.env.BERTH_TEST_SHOW_LOG) process.stderr.write(await daemonLog(h.home));
  await fake.close();
  await h.cleanup();
});

describe('the waiting list is capped (telegram.max-pending, 50 by default)', () => {
  it("60 strangers' /start give 50 pending users, the rest refused, admins get one digest", { timeout: 120_000 }, async () => {
    for (const s of STRANGERS) fake.sendText(s, '/start');
    await waitFor('an answer to every stranger', async () => STRANGERS.every((s) => repliesTo(s.id).length > 0), 60_000);
    const answers = STRANGERS.map((s) => repliesTo(s.id));
    expect(answers.filter((a) => a.length !== 1)).toEqual([]);
    expect(answers.filter((a) => a[0] === WELCOME)).toHaveLength(50);
    expect(answers.filter((a) => a[0] === FULL)).toHaveLength(10);

    // The state holds exactly the 50 who were welcomed; the refused were never added.
    const users = await berthJson<UserRow[]>(h.home, ['user', 'list', '--json']);
    const welcomed = new Set(STRANGERS.filter((_, i) => answers[i]?.[0] === WELCOME).map((s) => s.id));
    expect(
      users
        .filter((u) => u.status === 'pending')
        .map((u) => u.telegramId)
        .sort(),
    ).toEqual([...welcomed].sort());
    expect(users.filter((u) => u.telegramId !== null && !welcomed.has(u.telegramId))).toEqual([]);

    // One announcement each for the 50, then a single digest for the 10.
    await waitFor('the digest to the admin', async () => digests().length > 0, DIGEST_MS + 30_000);
    expect(announcements()).toHaveLength(50);
    expect(digests()).toEqual([expect.stringContaining('10 more people asked for access and were turned away')]);
    expect(digests()[0]).toContain('berth user list --status pending');

    // A latecomer starts the next interval's digest: it follows the first, with nothing in between.
    fake.sendText(LATECOMER, '/start');
    await waitFor('the latecomer to be refused', async () => repliesTo(LATECOMER.id).length > 0);
    expect(repliesTo(LATECOMER.id)).toEqual([FULL]);
    await waitFor('the second digest', async () => digests().length > 1, DIGEST_MS + 30_000);
    expect(digests()).toEqual([
      expect.stringContaining('10 more people asked for access and were turned away'),
      expect.stringContaining('1 more person asked for access and was turned away'),
    ]);
    expect(announcements()).toHaveLength(50);
    expect((await berthJson<UserRow[]>(h.home, ['user', 'list', '--status', 'pending', '--json'])).length).toBe(50);
  });

  it('a rejection makes room: a refused stranger who tries again joins the waiting list', { timeout: 60_000 }, async () => {
    const pending = await berthJson<UserRow[]>(h.home, ['user', 'list', '--status', 'pending', '--json']);
    const rejected = await berth(h.home, ['user', 'reject', pending[0]?.login as string]);
    expect(rejected.code, rejected.stderr).toBe(0);
    const before = repliesTo(LATECOMER.id).length;
    fake.sendText(LATECOMER, '/start');
    await waitFor('the latecomer to be answered again', async () => repliesTo(LATECOMER.id).length > before);
    expect(repliesTo(LATECOMER.id).at(-1)).toBe(WELCOME);
    await waitFor('the admin to be told of the latecomer', async () => announcements().length === 51);
    const now = await berthJson<UserRow[]>(h.home, ['user', 'list', '--status', 'pending', '--json']);
    expect(now).toHaveLength(50);
    expect(now.map((u) => u.telegramId)).toContain(LATECOMER.id);
  });
});
