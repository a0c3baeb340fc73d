// The bot's handling of updates that do not start anything in Docker: 1 000 updates
// (/help and /status) from 200 users through a local fake Bot API server, to the real
// daemon. Latency is from the update being queued on the server to the bot's reply
// arriving there (long polling, so it includes getUpdates).
import { join } from 'node:path';
import { execa } from 'execa';
import { startFakeBotApi } from '../test/helpers/fake-bot-api.js';
import { benchHome, median, ms, percentile } from './measure.js';

export const title = 'Telegram bot: 1 000 updates from 200 users';

const USERS = 200;
const PER_USER = 5;
const STOPPED_VMS = 10;

async function waitReplies(fake, count, from, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (fake.sent.length - from < count) {
    if (Date.now() > end) throw new Error(`only ${fake.sent.length - from} of ${count} replies came`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends `updates` ([user, text]) spaced by `gapMs` (0 = all at once); returns latencies and the span. */
async function drive(fake, updates, gapMs) {
  const from = fake.sent.length;
  const queued = [];
  const start = performance.now();
  for (const [user, text] of updates) {
    queued.push({ user, id: fake.sendText(user, text).update_id });
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  await waitReplies(fake, updates.length, from);
  const replies = new Map();
  for (const s of fake.sent.slice(from)) replies.set(s.chatId, [...(replies.get(s.chatId) ?? []), s]);
  // Each user's updates are handled in order, so their k-th reply answers their k-th update.
  const seen = new Map();
  const latencies = queued.map(({ user, id }) => {
    const k = seen.get(user.id) ?? 0;
    seen.set(user.id, k + 1);
    return replies.get(user.id)[k].at - fake.pushedAt.get(id);
  });
  const span = Math.max(...fake.sent.slice(from).map((s) => s.at)) - start;
  return { latencies, span };
}

export async function run({ bin, root }) {
  const fake = await startFakeBotApi();
  const { home, env, berth, cleanup } = benchHome({ bin, root, prefix: 't', env: { BERTH_TELEGRAM_TOKEN: fake.token } });
  try {
    berth('config', 'set', 'telegram.api-root', fake.apiRoot);
    // The bot's own capacity: Telegram's pacing (telegram.throttle, on by default) caps sends at
    // 30 a second overall and one a second per chat by design, whatever the bot can do.
    berth('config', 'set', 'telegram.throttle', 'off');
    const { StateStore } = await import(join(root, 'dist/src/state/store.js'));
    const { allowUser } = await import(join(root, 'dist/src/services/people/users.js'));
    const store = new StateStore(home);
    const users = Array.from({ length: USERS }, (_, i) => ({ id: 500_000 + i, username: `bench${i}` }));
    for (const u of users) await allowUser(store, `bench${u.id}`, { telegramId: u.id });
    for (let i = 0; i < STOPPED_VMS; i++) {
      berth('vm', 'create', `bench${users[i].id}`);
      berth('vm', 'stop', `bench${users[i].id}`);
    }
    // Not spawnSync: the daemon's first call (getMe) goes to the fake server in this process.
    await execa('node', [bin, 'daemon', 'start'], { env });
    while (!fake.calls.some((c) => c.method === 'getUpdates')) await new Promise((r) => setTimeout(r, 50));

    const mix = (n) => Array.from({ length: n }, (_, i) => [users[i % USERS], i % 2 ? '/status' : '/help']);
    await drive(fake, mix(USERS), 0); // warm-up: every user's first request
    const burst = await drive(fake, mix(USERS * PER_USER), 0);
    const paced = await drive(fake, mix(USERS), 10);
    const row = (name, r) =>
      `| ${name} | ${r.latencies.length} | ${((r.latencies.length / r.span) * 1000).toFixed(0)} updates/s | ${ms(median(r.latencies))} | ${ms(percentile(r.latencies, 99))} |`;
    return [
      '| load | updates | throughput | p50 latency | p99 latency |',
      '|---|---|---|---|---|',
      row(`burst: all queued at once, ${USERS} users`, burst),
      row(`paced: one every 10 ms, ${USERS} users`, paced),
      '',
      `Half /help, half /status; ${STOPPED_VMS} of the users have a stopped VM (their /status inspects it on the engine), the rest have none. Long polling through @grammyjs/runner (one user's updates in order, users concurrently); every update reads the state file (${USERS} users) for access checks, validated only when its text changed. \`telegram.throttle off\`: with it on (the default) the bot paces its sends within Telegram's flood limits, 30 a second overall and one a second per chat, so the same burst takes about 35 s whatever the bot could do. The fake server runs in the benchmark's process.`,
    ].join('\n');
  } finally {
    cleanup();
    await fake.close();
  }
}
