// The chat conformance cases (cases.ts) against the Discord bot and the Discord stand-in, then what
// only Discord has: servers, forms, rate limits, Discord's 3 s, gateway intents, and linking an
// account with the Telegram bot running in the same daemon.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { daemonLog, state } from '../helpers/daemon.js';
import { MINIMAL_IMAGE } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import { PRIVILEGED_INTENTS, snowflake } from '../helpers/fake-discord-api.js';
import { chatConformance } from './cases.js';
import { DiscordDriver } from './discord-driver.js';
import { fromHtml } from './driver.js';

type FakeBotApi = Awaited<ReturnType<typeof startFakeBotApi>>;
type TgSent = FakeBotApi['sent'][number];

const GUILD = { id: snowflake(), name: 'berth team', allowed: true };
/** Telegram people of the linking and cross-front-end cases. */
const TG_ADMIN = { id: 880001, username: 'tg_admin' };
const TARA = { id: 880002, username: 'tara' };
const TG_STRANGER = { id: 880003, username: 'tstranger' };
const TG_PENDING = { id: 880004, username: 'tpending' };

let tg: FakeBotApi;
let driver: DiscordDriver;

async function tgAsk(user: { id: number }, text: string, match: (s: TgSent) => boolean): Promise<TgSent> {
  const after = tg.sent.length;
  tg.sendText(user, text);
  return tg.waitFor((s: TgSent) => s.chatId === user.id && match(s), { after });
}

chatConformance(
  () => {
    // Per-route limits (ids left out) as Discord's shared limits: sends to many DMs meet 429s.
    driver = new DiscordDriver({ rateLimit: { limit: 5, windowMs: 1000 }, guilds: [GUILD] });
    return driver;
  },
  {
    beforeDaemon: async ({ must }) => {
      // The Telegram bot runs in the same daemon.
      tg = await startFakeBotApi();
      await must(['config', 'set', 'telegram.api-root', tg.apiRoot]);
      await must(['config', 'set', 'telegram.admins', String(TG_ADMIN.id)]);
      await must(['config', 'set', 'telegram.rate-limit', '1000']);
      await must(['telegram', 'setup'], `${tg.token}\n`);
      await must(['user', 'allow', 'tara', '--telegram-id', String(TARA.id)]);
      await must(['vm', 'create', 'tara', '--image', MINIMAL_IMAGE]);
    },
    afterAll: async () => {
      await tg?.close();
    },
    cases: (ctx) => {
      describe('what only Discord has', () => {
        it('identifies with no privileged intent', () => {
          const { fake } = driver;
          expect(fake.identifies.length).toBeGreaterThan(0);
          for (const identify of fake.identifies) expect(Number(identify.intents) & PRIVILEGED_INTENTS).toBe(0);
        });

        it('answers in an allowed server ephemerally', async () => {
          const after = driver.mark();
          await driver.command(ctx.alice, 'status', {}, { guildId: GUILD.id });
          const reply = await driver.waitFor(ctx.alice, (r) => /main — 🟢 running/.test(r.text), { after });
          expect(reply.private).toBe(true);
          expect(driver.fake.message(reply.messageId)).toMatchObject({ guildId: GUILD.id, ephemeral: true });
        });

        it('the /setkey form’s value is in nothing the bot sent, asked or logged', async () => {
          const secret = `sk-ant-form-${randomBytes(9).toString('hex')}`;
          const after = driver.mark();
          await driver.secret(ctx.alice, 'anthropic', secret);
          const saved = await driver.waitFor(ctx.alice, (r) => /key is saved/.test(r.text), { after });
          expect(saved.text).toContain('Nobody else saw it.');
          const modal = driver.fake.sent.slice(after).find((s: { kind: string }) => s.kind === 'modal');
          expect(modal?.modal.fields.map((f: { customId: string }) => f.customId)).toEqual(['key']);
          const sent = JSON.stringify(
            driver.fake.sent.map((s: { content?: string; components?: unknown; modal?: unknown }) => [s.content, s.components, s.modal]),
          );
          expect(sent).not.toContain(secret);
          for (const call of driver.fake.calls) expect(JSON.stringify(call.body ?? null)).not.toContain(secret);
          expect(driver.everything()).not.toContain(secret);
          expect(await daemonLog(ctx.h.home)).not.toContain(secret);
          expect(JSON.stringify(await state(ctx.h.home))).not.toContain(secret);
        });

        it('a DM is a prompt too: the reply is a DM, edited as the agent works', { timeout: 180_000 }, async () => {
          const after = driver.mark();
          driver.fake.dm({ id: ctx.alice.id, username: ctx.alice.username }, 'what did I ask?');
          const first = await driver.waitFor(ctx.alice, (r) => !r.edit && /🤖/.test(r.text), { after, timeoutMs: 150_000 });
          expect(driver.fake.message(first.messageId)?.channelId).toBe(driver.fake.dmChannelId(ctx.alice.id));
          const last = await driver.waitFor(
            ctx.alice,
            (r) => r.edit && r.messageId === first.messageId && /Answer \d+: I see [1-9]\d* earlier user turn/.test(r.text),
            { after, timeoutMs: 150_000 },
          );
          expect(last.private).toBe(true);
          expect(last.text).not.toMatch(/Working…/);
        });

        it('/link: the code from Telegram makes the Discord account the same berth user', async () => {
          const code = await tgAsk(TARA, '/link', (s) => /Your code/.test(s.text));
          const given = /send \/link (\S+) to the bot/.exec(fromHtml(code.text).text)?.[1];
          expect(given, code.text).toBeTruthy();
          const taraOnDiscord = driver.person('tara-discord');
          const linked = await ctx.ask(taraOnDiscord, 'link', { code: given as string });
          expect(linked.text).toMatch(/This Discord account is now tara's/);
          const users = (await state(ctx.h.home)).users as { login: string; discordId?: string; telegramId?: number }[];
          expect(users.find((u) => u.login === 'tara')).toMatchObject({ telegramId: TARA.id, discordId: taraOnDiscord.id });
          const status = await ctx.ask(taraOnDiscord, 'status');
          expect(status.text).toMatch(/main — 🟢 running/);
          // The code works once.
          const again = await ctx.ask(driver.person('someone-else'), 'link', { code: given as string });
          expect(again.text).toMatch(/^⚠️/);
        });

        it('the admins of each front-end get the access requests made on the other', async () => {
          // Discord's stranger (the first case) reached the Telegram admin.
          const fromDiscord = await tg.waitFor(
            (s: TgSent) => s.chatId === TG_ADMIN.id && /Access request from @dora on Discord/.test(s.text),
          );
          const buttons = fromDiscord.replyMarkup.inline_keyboard.flat().map((b: { callback_data: string }) => b.callback_data);
          expect(buttons.some((d: string) => d.startsWith('ap:'))).toBe(true);
          // The Discord admin decided it already: the Telegram admin's late press says so and changes nothing.
          const late = tg.sent.length;
          tg.pressButton(
            TG_ADMIN,
            fromDiscord.messageId,
            buttons.find((d: string) => d.startsWith('rj:')),
          );
          const stale = await tg.waitFor((s: TgSent) => s.chatId === TG_ADMIN.id && s.messageId === fromDiscord.messageId, { after: late });
          expect(fromHtml(stale.text).text).toBe('dora was already decided: allowed.');
          expect((await state(ctx.h.home)).users.find((u: { login: string }) => u.login === 'dora')?.status).toBe('allowed');
          const after = driver.mark();
          await tgAsk(TG_STRANGER, '/start', (s) => /request for access was sent/.test(s.text));
          const request = await driver.waitFor(ctx.admin, (r) => /Access request from @tstranger on Telegram/.test(r.text), { after });
          expect(request.private).toBe(true);
          const approve = request.buttons.find((b) => b.data.startsWith('ap:'));
          expect(approve).toBeDefined();
          // Approved on Discord, told on Telegram.
          const told = tg.sent.length;
          await driver.press(ctx.admin, request, approve?.data as string);
          await tg.waitFor((s: TgSent) => s.chatId === TG_STRANGER.id && /access was approved/.test(s.text), { after: told });
        });

        it('a refused person’s next command leaves nothing behind: the deferred reply is deleted', async () => {
          // bob was revoked (and told once) in the shared cases.
          const after = driver.mark();
          const { id } = driver.fake.command({ id: ctx.bob.id, username: ctx.bob.username }, 'status');
          await expect
            .poll(() => {
              const original = driver.fake.interaction(id)?.originalId;
              return Boolean(original) && driver.fake.deleted.some((d: { messageId: string }) => d.messageId === original);
            })
            .toBe(true);
          expect(driver.replies(ctx.bob, after)).toEqual([]);
        });

        it('a broadcast to many DMs meets 429s and every notice arrives', { timeout: 120_000 }, async () => {
          const many = Array.from({ length: 12 }, (_, n) => driver.person(`crowd${n}`));
          for (const [n, p] of many.entries()) {
            const reply = await ctx.ask(ctx.admin, 'allow_user', { id: p.id, login: `crowd${n}` });
            expect(reply.text).not.toMatch(/⚠️/);
            // Each has used the bot in a DM: the client knows their DM channel, so the notices
            // go out one right after another, each to its own channel, all in one shared bucket.
            expect((await ctx.ask(p, 'myid')).text).toContain(`Login: crowd${n}`);
          }
          const tooMany = driver.fake.tooMany;
          const text = `maintenance tonight ${randomBytes(4).toString('hex')}`;
          const after = driver.mark();
          const done = await ctx.ask(ctx.admin, 'broadcast', { text });
          expect(done.text).toMatch(/Sent to every allowed user/);
          for (const p of [...many, ctx.alice]) {
            const notice = await driver.waitFor(p, (r) => r.text === `📣 ${text}`, { after, timeoutMs: 60_000 });
            expect(notice.private).toBe(true);
          }
          expect(driver.fake.tooMany).toBeGreaterThan(tooMany);
        });

        it('/link: a code from Discord takes a pending Telegram account in, its request dropped', async () => {
          const code = await ctx.ask(driver.person('crowd0'), 'link', {}, (r) => /Your code/.test(r.text));
          const given = /send \/link (\S+) to the bot/.exec(code.text)?.[1];
          expect(given, code.text).toBeTruthy();
          expect(code.private).toBe(true);
          await tgAsk(TG_PENDING, '/start', (s) => /request for access was sent/.test(s.text));
          const linked = await tgAsk(TG_PENDING, `/link ${given}`, (s) => /account is now/.test(s.text));
          expect(linked.text).toMatch(/This Telegram account is now crowd0's/);
          const users = (await state(ctx.h.home)).users as { login: string; status: string; telegramId?: number; discordId?: string }[];
          expect(users.filter((u) => u.telegramId === TG_PENDING.id).map((u) => [u.login, u.status])).toEqual([['crowd0', 'allowed']]);
          expect(users.some((u) => u.status === 'pending' && u.login === 'tpending')).toBe(false);
          expect((await tgAsk(TG_PENDING, '/myid', () => true)).text).toContain('crowd0');
        });

        it('a command from a server not in discord.guilds is refused, and the bot leaves that server', async () => {
          await ctx.must(['config', 'set', 'discord.guilds', snowflake()]);
          const after = driver.mark();
          await driver.command(ctx.alice, 'status', {}, { guildId: GUILD.id });
          const reply = await driver.waitFor(ctx.alice, () => true, { after });
          expect(reply.text).toMatch(/berth does not work in this server/);
          expect(reply.private).toBe(true);
          await expect
            .poll(() => driver.fake.leftGuilds.map((g: { guildId: string }) => g.guildId), { timeout: 10_000 })
            .toContain(GUILD.id);
        });

        it('answered every interaction of the file within 3 s', () => {
          const all = [...driver.fake.interactions.values()];
          expect(all.length).toBeGreaterThan(30);
          const late = all.filter((i) => !(i.answeredAfterMs < 3000));
          expect(late.map((i) => ({ id: i.id, type: i.type, name: i.name, after: i.answeredAfterMs }))).toEqual([]);
        });
      });
    },
  },
);
