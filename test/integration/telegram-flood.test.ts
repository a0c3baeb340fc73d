import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { type VmHome, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;

const USERS = 300;
const REFUSAL = 'Hello! This is a private service. Send /start to ask for access.';

let h: VmHome;
let fake: Fake;

beforeAll(async () => {
  h = await vmHome();
  // Telegram's limits: 30 sends in any second overall, one a second per chat.
  fake = await startFakeBotApi({ flood: { perSecond: 30, perChatMs: 1000 } });
  for (const args of [
    ['config', 'set', 'ssh.enabled', 'off'],
    ['config', 'set', 'telegram.api-root', fake.apiRoot],
  ]) {
    const r = await berth(h.home, args);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const setup = await berth(h.home, ['telegram', 'setup'], { input: `${fake.token}\n` });
  if (setup.code !== 0) throw new Error(setup.stderr);
  const start = await berth(h.home, ['daemon', 'start']);
  if (start.code !== 0) throw new Error(start.stderr);
  await waitFor('the bot to poll', async () => fake.calls.some((c) => c.method === 'getUpdates'));
});

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  if (process.env.BERTH_TEST_SHOW_LOG) process.stderr.write(await daemonLog(h.home));
  await fake.close();
  await h.cleanup();
});

describe('the Telegram bot under Telegram’s flood limits', () => {
  it(`answers ${USERS} users writing at once, each exactly once, with few 429s`, { timeout: 90_000 }, async () => {
    const users = Array.from({ length: USERS }, (_, i) => ({ id: 800_000 + i }));
    const started = performance.now();
    for (const u of users) fake.sendText(u, 'hello');
    const answered = (id: number) => fake.sent.filter((s) => s.chatId === id && s.method === 'sendMessage');
    await waitFor(`answers to all ${USERS} users`, async () => users.every((u) => answered(u.id).length > 0), 75_000);
    const seconds = (performance.now() - started) / 1000;
    // Anything retried twice would show up by now.
    await new Promise((r) => setTimeout(r, 1500));
    const counts = users.map((u) => answered(u.id));
    console.log(`telegram flood: ${USERS} answers in ${seconds.toFixed(1)} s, ${fake.refused.flood} sends refused with 429`);
    expect(counts.filter((c) => c.length !== 1).map((c) => c.length)).toEqual([]);
    expect(counts.map((c) => c[0]?.text).filter((t) => t !== REFUSAL)).toEqual([]);
    // Measured unpaced (auto-retry alone): 1350 sends refused, 120 users got an error instead of
    // their answer. Paced: none refused.
    expect(fake.refused.flood).toBeLessThanOrEqual(15);
  });
});
