// The Discord bot's handling of interactions that do not start anything in Docker: 1 000 slash
// commands (/help and /status) from 200 users through the local stand-in Discord API and
// gateway, to the real daemon — the same load as the Telegram benchmark, so the two front-ends
// of one chat core compare in one run. Latency is from the interaction being dispatched on the
// gateway to the bot's answer (the edit of its deferred reply) arriving at the stand-in.
import { join } from 'node:path';
import { execa } from 'execa';
import { startFakeDiscordApi } from '../test/helpers/fake-discord-api.js';
import { benchHome, median, ms, percentile } from './measure.js';

export const title = 'Discord bot: 1 000 interactions from 200 users';

const USERS = 200;
const PER_USER = 5;

/** Sends `commands` ([user, name]) spaced by `gapMs` (0 = all at once); latencies and the span. */
async function drive(fake, commands, gapMs) {
  const start = performance.now();
  const ids = [];
  for (const [user, name] of commands) {
    ids.push(fake.command(user, name).id);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  const answered = (id) => fake.sent.find((s) => s.interactionId === id && s.kind === 'edit');
  const end = Date.now() + 180_000;
  while (!ids.every(answered)) {
    if (Date.now() > end) throw new Error(`only ${ids.filter(answered).length} of ${ids.length} interactions answered`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const latencies = ids.map((id) => answered(id).at - fake.interaction(id).dispatchedAt);
  const deferred = ids.map((id) => fake.interaction(id).answeredAfterMs);
  const span = Math.max(...ids.map((id) => answered(id).at)) - start;
  return { latencies, deferred, span };
}

export async function run({ bin, root }) {
  const fake = await startFakeDiscordApi();
  const { home, env, berth, cleanup } = benchHome({ bin, root, prefix: 'd', env: { BERTH_DISCORD_TOKEN: fake.token } });
  try {
    berth('config', 'set', 'discord.api-root', fake.apiRoot);
    berth('config', 'set', 'discord.rate-limit', '0');
    const { StateStore } = await import(join(root, 'dist/src/state/store.js'));
    const { allowUser } = await import(join(root, 'dist/src/services/people/users.js'));
    const store = new StateStore(home);
    const users = Array.from({ length: USERS }, (_, i) => fake.newUser(`bench${i}`));
    for (const [i, u] of users.entries()) await allowUser(store, `bench${i}`, { discordId: u.id });
    await execa('node', [bin, 'daemon', 'start'], { env });
    while (!fake.identifies.length || !fake.commands.length) await new Promise((r) => setTimeout(r, 50));

    const mix = (n) => Array.from({ length: n }, (_, i) => [users[i % USERS], i % 2 ? 'status' : 'help']);
    await drive(fake, mix(USERS), 0); // warm-up: every user's first command
    const burst = await drive(fake, mix(USERS * PER_USER), 0);
    const paced = await drive(fake, mix(USERS), 25);
    const row = (name, r) =>
      `| ${name} | ${r.latencies.length} | ${((r.latencies.length / r.span) * 1000).toFixed(0)} commands/s | ${ms(median(r.latencies))} | ${ms(percentile(r.latencies, 99))} | ${ms(Math.max(...r.deferred))} |`;
    return [
      '| load | commands | throughput | p50 answer | p99 answer | slowest deferral |',
      '|---|---|---|---|---|---|',
      row(`burst: all dispatched at once, ${USERS} users`, burst),
      row(`paced: one every 25 ms, ${USERS} users`, paced),
      '',
      `Half /help, half /status (no VMs). Each interaction is deferred (ephemeral) as it arrives — Discord wants an answer within 3 s; "slowest deferral" is the longest of those — then answered by editing the deferred reply; one user's commands run one after the other. \`discord.rate-limit 0\` (no per-user limit); the stand-in applies no rate limits here. The answers' throughput is discord.js's global limiter: at most 50 REST requests a second for the bot (Discord's global rate limit), and each answer is one (the deferral is an interaction callback, outside it); so a burst queues there, while the paced load (40 a second) stays under it. Compare with the Telegram bot's table: the same chat core behind both.`,
    ].join('\n');
  } finally {
    cleanup();
    await fake.close();
  }
}
