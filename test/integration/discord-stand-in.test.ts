// The Discord stand-in (test/helpers/fake-discord-api.js) against a real discord.js Client: what
// the bot tests rely on is what discord.js itself does with it.
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  type Interaction,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  Partials,
  TextInputBuilder,
  TextInputStyle,
} from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIVILEGED_INTENTS, snowflake, startFakeDiscordApi } from '../helpers/fake-discord-api.js';

type Fake = Awaited<ReturnType<typeof startFakeDiscordApi>>;
type Handler = (interaction: Interaction) => Promise<void>;

function newClient(fake: Fake): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.DirectMessages],
    partials: [Partials.Channel],
    rest: { api: fake.apiRoot },
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function loggedIn(fake: Fake, client: Client): Promise<void> {
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(fake.token);
  await ready;
}

describe('the Discord stand-in with a real discord.js client', () => {
  const guildId = snowflake();
  const otherGuildId = snowflake();
  const adminRole = snowflake();
  let fake: Fake;
  let client: Client;
  /** What the bot does with an interaction, by command name or custom id. */
  const handlers = new Map<string, Handler>();
  const errors: unknown[] = [];
  const guildDeletes: string[] = [];

  beforeAll(async () => {
    fake = await startFakeDiscordApi({
      guilds: [
        { id: guildId, name: 'berth team', roles: [{ id: adminRole, name: 'berth-admin' }] },
        { id: otherGuildId, name: 'to leave' },
      ],
    });
    client = newClient(fake);
    client.on(Events.InteractionCreate, (interaction) => {
      const key = interaction.isChatInputCommand()
        ? interaction.commandName
        : interaction.isButton() || interaction.isModalSubmit()
          ? interaction.customId
          : '';
      const handler = handlers.get(key);
      if (!handler) return;
      handler(interaction).catch((err: unknown) => errors.push(err));
    });
    client.on(Events.GuildDelete, (guild) => guildDeletes.push(guild.id));
    await loggedIn(fake, client);
  });

  afterAll(async () => {
    await client?.destroy();
    await fake?.close();
  });

  it('logs in, gets ready with its guilds and identifies without privileged intents', () => {
    expect(client.isReady()).toBe(true);
    expect(client.user?.id).toBe(fake.botUser.id);
    expect(client.application?.id).toBe(fake.applicationId);
    expect([...client.guilds.cache.keys()].sort()).toEqual([guildId, otherGuildId].sort());
    expect(client.guilds.cache.get(guildId)?.roles.cache.get(adminRole)?.name).toBe('berth-admin');
    expect(fake.identifies).toHaveLength(1);
    const intents = Number(fake.identifies[0].intents);
    expect(intents & PRIVILEGED_INTENTS).toBe(0);
    expect(intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.DirectMessages);
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toContain('GET /gateway/bot');
  });

  it('refuses another token with 401, like Discord', async () => {
    const res = await fetch(`${fake.apiRoot}/v10/users/@me`, { headers: { authorization: 'Bot not-the-token' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const ok = await fetch(`${fake.apiRoot}/v10/users/@me`, { headers: { authorization: `Bot ${fake.token}` } });
    expect((await ok.json()).id).toBe(fake.botUser.id);
  });

  it('records global and guild commands the bot registers', async () => {
    const app = client.application;
    if (!app) throw new Error('no application');
    const defs = [
      { name: 'vm', description: 'VMs', options: [{ type: 3, name: 'name', description: 'VM name' }] },
      { name: 'upload', description: 'Upload', options: [{ type: 11, name: 'file', description: 'the file' }] },
      { name: 'count', description: 'Count', options: [{ type: 4, name: 'n', description: 'how many' }] },
    ];
    const set = await app.commands.set(defs);
    expect(set.size).toBe(3);
    expect(fake.commands.map((c: { name: string }) => c.name)).toEqual(['vm', 'upload', 'count']);
    await app.commands.set([{ name: 'admin', description: 'Admin only' }], guildId);
    expect(fake.guildCommands.get(guildId).map((c: { name: string }) => c.name)).toEqual(['admin']);
    const fetched = await app.commands.fetch();
    expect(fetched.map((c) => c.name).sort()).toEqual(['count', 'upload', 'vm']);
  });

  it('takes a command in a DM: an ephemeral deferred reply, then the edit of @original', async () => {
    const user = fake.newUser('alice');
    const seen: { dm: boolean; name: string | null; n: number | null }[] = [];
    handlers.set('vm', async (i) => {
      if (!i.isChatInputCommand()) return;
      seen.push({ dm: Boolean(i.channel?.isDMBased()), name: i.options.getString('name'), n: null });
      await i.deferReply({ flags: MessageFlags.Ephemeral });
      await new Promise((r) => setTimeout(r, 50));
      await i.editReply(`VM ${i.options.getString('name')} is running`);
    });
    const after = fake.sent.length;
    const { id } = fake.command(user, 'vm', { name: 'dev' });
    const deferred = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'deferred' && s.interactionId === id, {
      after,
    });
    expect(deferred).toMatchObject({ userId: user.id, ephemeral: true, channelId: fake.dmChannelId(user.id) });
    expect(deferred.guildId).toBeUndefined();
    const edit = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'edit' && s.interactionId === id, {
      after,
    });
    expect(edit).toMatchObject({ content: 'VM dev is running', ephemeral: true, messageId: deferred.messageId, userId: user.id });
    expect(fake.message(deferred.messageId).content).toBe('VM dev is running');
    expect(seen).toEqual([{ dm: true, name: 'dev', n: null }]);
    const i = fake.interaction(id);
    expect(i.answeredAfterMs).toBeLessThan(3000);
    expect(i.answeredAfterMs).toBe(i.answeredAt - i.dispatchedAt);
    const editCall = fake.calls.find(
      (c: { method: string; path: string }) => c.method === 'PATCH' && c.path.endsWith('/messages/@original'),
    );
    expect(editCall?.path).toBe(`/webhooks/${fake.applicationId}/${i.token}/messages/@original`);
  });

  it('takes a command in a guild with the member and their roles, typed by the registered options', async () => {
    const user = fake.newUser('bob');
    const got: unknown[] = [];
    handlers.set('count', async (i) => {
      if (!i.isChatInputCommand()) return;
      const roles = i.inCachedGuild() ? [...i.member.roles.cache.keys()] : [];
      got.push({ guild: i.guildId, n: i.options.getInteger('n'), admin: roles.includes(adminRole) });
      const response = await i.reply({ content: 'counted', withResponse: true });
      got.push({ responseMessage: response.resource?.message?.content });
    });
    const after = fake.sent.length;
    const { id } = fake.command(user, 'count', { n: '7' }, { guildId, roles: [adminRole] });
    const reply = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === id, {
      after,
    });
    expect(reply).toMatchObject({ content: 'counted', ephemeral: false, guildId, userId: user.id });
    await until('the reply to return', () => got.length === 2);
    expect(got).toEqual([{ guild: guildId, n: 7, admin: true }, { responseMessage: 'counted' }]);
  });

  it('hands over an attachment and takes a file back in a follow-up, byte for byte', async () => {
    const user = fake.newUser('carol');
    const upload = Buffer.from(Array.from({ length: 70_000 }, (_, k) => (k * 7) % 256));
    handlers.set('upload', async (i) => {
      if (!i.isChatInputCommand()) return;
      const file = i.options.getAttachment('file', true);
      await i.reply({ content: `got ${file.name} (${file.size} bytes)` });
      const data = Buffer.from(await (await fetch(file.url)).arrayBuffer());
      await i.followUp({ content: 'here it is back', files: [new AttachmentBuilder(data, { name: `echo-${file.name}` })] });
    });
    const after = fake.sent.length;
    const { id } = fake.command(user, 'upload', { file: fake.attachment('data.bin', upload) });
    const reply = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === id, {
      after,
    });
    expect(reply.content).toBe(`got data.bin (${upload.length} bytes)`);
    const followup = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'followup' && s.interactionId === id, {
      after,
    });
    expect(followup.content).toBe('here it is back');
    expect(followup.files).toHaveLength(1);
    expect(followup.files[0].name).toBe('echo-data.bin');
    expect(Buffer.compare(followup.files[0].data, upload)).toBe(0);
    const call = fake.calls.find(
      (c: { method: string; path: string; files: unknown[] }) =>
        c.method === 'POST' && c.path === `/webhooks/${fake.applicationId}/${fake.interaction(id).token}`,
    );
    expect(call?.files).toHaveLength(1);
  });

  const modals: [string, (modal: ModalBuilder) => ModalBuilder][] = [
    [
      'label components',
      (modal) =>
        modal.addLabelComponents(
          new LabelBuilder()
            .setLabel('New name')
            .setTextInputComponent(new TextInputBuilder().setCustomId('newName').setStyle(TextInputStyle.Short)),
        ),
    ],
    [
      'action rows (deprecated)',
      (modal) =>
        modal.addActionRowComponents(
          new ActionRowBuilder<TextInputBuilder>().addComponents(
            new TextInputBuilder().setCustomId('newName').setLabel('New name').setStyle(TextInputStyle.Short),
          ),
        ),
    ],
  ];
  it.each(modals)('shows a modal made of %s and gets its submission', async (_, build) => {
    const user = fake.newUser('dave');
    handlers.set('vm', async (i) => {
      if (!i.isChatInputCommand()) return;
      await i.showModal(build(new ModalBuilder().setCustomId('vm-rename').setTitle('Rename a VM')));
    });
    handlers.set('vm-rename', async (i) => {
      if (!i.isModalSubmit()) return;
      await i.reply({ content: `renamed to ${i.fields.getTextInputValue('newName')}`, flags: MessageFlags.Ephemeral });
    });
    const after = fake.sent.length;
    const { id } = fake.command(user, 'vm', { name: 'old' });
    const shown = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'modal' && s.interactionId === id, {
      after,
    });
    expect(shown.modal).toEqual({
      customId: 'vm-rename',
      title: 'Rename a VM',
      fields: [{ customId: 'newName', label: 'New name', type: 4 }],
    });
    expect(() => fake.submitModal(user, 'vm-rename', { nope: 'x' })).toThrow(/no field nope/);
    const submit = fake.submitModal(user, 'vm-rename', { newName: 'shiny' });
    const reply = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === submit.id, {
      after,
    });
    expect(reply).toMatchObject({ content: 'renamed to shiny', ephemeral: true, userId: user.id });
  });

  it('takes a button press: deferUpdate, then editReply changes the pressed message', async () => {
    const user = fake.newUser('erin');
    handlers.set('vm', async (i) => {
      if (!i.isChatInputCommand()) return;
      const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId('vm-stop').setLabel('Stop').setStyle(ButtonStyle.Danger),
        new ButtonBuilder().setCustomId('vm-keep').setLabel('Keep').setStyle(ButtonStyle.Secondary),
      );
      await i.reply({ content: 'Stop dev?', components: [row] });
    });
    handlers.set('vm-stop', async (i) => {
      if (!i.isButton()) return;
      await i.deferUpdate();
      await i.editReply({ content: `stopped (pressed on ${i.message.id})`, components: [] });
    });
    const after = fake.sent.length;
    const cmd = fake.command(user, 'vm', { name: 'dev' });
    const reply = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === cmd.id, {
      after,
    });
    expect(reply.components).toEqual([
      { label: 'Stop', customId: 'vm-stop', style: ButtonStyle.Danger },
      { label: 'Keep', customId: 'vm-keep', style: ButtonStyle.Secondary },
    ]);
    expect(() => fake.press(user, reply.messageId, 'vm-nope')).toThrow(/no button "vm-nope"/);
    const press = fake.press(user, reply.messageId, 'vm-stop');
    const deferred = await fake.waitFor(
      (s: { kind: string; interactionId?: string }) => s.kind === 'deferred' && s.interactionId === press.id,
      { after },
    );
    expect(deferred.messageId).toBe(reply.messageId);
    expect(deferred.callbackType).toBe(6);
    await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'edit' && s.interactionId === press.id, { after });
    expect(fake.message(reply.messageId)).toMatchObject({ content: `stopped (pressed on ${reply.messageId})`, components: [] });
  });

  it('answers an interaction only once, and only while it is known, as Discord does', async () => {
    const user = fake.newUser('frank');
    handlers.set('vm', async (i) => {
      if (i.isChatInputCommand()) await i.reply('first');
    });
    const after = fake.sent.length;
    const { id, token } = fake.command(user, 'vm', { name: 'x' });
    await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === id, { after });
    const again = await fetch(`${fake.apiRoot}/v10/interactions/${id}/${token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'second' } }),
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ code: 40060 });
    const unknown = await fetch(`${fake.apiRoot}/v10/interactions/${snowflake()}/nope/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'x' } }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 10062 });
    const hook = await fetch(`${fake.apiRoot}/v10/webhooks/${fake.applicationId}/not-a-token?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'x' }),
    });
    expect(hook.status).toBe(404);
  });

  it('sends a DM with user.send(), and gets 50007 from a user whose DMs are closed', async () => {
    const user = fake.newUser('gina');
    const u = await client.users.fetch(user.id);
    const after = fake.sent.length;
    const message = await u.send('your VM is ready');
    const dm = await fake.waitFor((s: { kind: string; userId?: string }) => s.kind === 'dm' && s.userId === user.id, { after });
    expect(dm).toMatchObject({
      content: 'your VM is ready',
      channelId: fake.dmChannelId(user.id),
      messageId: message.id,
      ephemeral: false,
    });
    await message.edit('your VM is ready (edited)');
    expect(fake.message(message.id).content).toBe('your VM is ready (edited)');
    const closed = fake.newUser('hank');
    fake.closeDms(closed.id);
    const err = await client.users.send(closed.id, 'hello').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscordAPIError);
    expect((err as DiscordAPIError).code).toBe(50007);
  });

  it('gets a DM from a user as MESSAGE_CREATE', async () => {
    const user = fake.newUser('ivy');
    const got = new Promise<string>((resolve) => {
      const onMessage = (m: { author: { id: string }; content: string }) => {
        if (m.author.id !== user.id) return;
        client.off(Events.MessageCreate, onMessage);
        resolve(m.content);
      };
      client.on(Events.MessageCreate, onMessage);
    });
    fake.dm(user, 'hi bot');
    expect(await got).toBe('hi bot');
  });

  it('leaves a guild: the stand-in records it and the client gets GUILD_DELETE', async () => {
    await client.guilds.cache.get(otherGuildId)?.leave();
    expect(fake.leftGuilds.map((g: { guildId: string }) => g.guildId)).toEqual([otherGuildId]);
    await until('GUILD_DELETE', () => guildDeletes.includes(otherGuildId));
    expect(client.guilds.cache.has(otherGuildId)).toBe(false);
    expect(client.guilds.cache.has(guildId)).toBe(true);
  });

  it('resumes after a dropped connection, and gets what was sent meanwhile', async () => {
    const user = fake.newUser('jack');
    handlers.set('vm', async (i) => {
      if (i.isChatInputCommand()) await i.reply(`still here: ${i.options.getString('name')}`);
    });
    const identifies = fake.identifies.length;
    fake.dropConnection();
    const after = fake.sent.length;
    // Sent while the client is away: replayed on RESUME.
    const { id } = fake.command(user, 'vm', { name: 'during' });
    await until('a RESUME', () => fake.resumes.length === 1);
    const reply = await fake.waitFor((s: { kind: string; interactionId?: string }) => s.kind === 'reply' && s.interactionId === id, {
      after,
    });
    expect(reply.content).toBe('still here: during');
    expect(fake.identifies).toHaveLength(identifies);
    expect(fake.resumes[0].token).toBe(fake.token);
    expect(errors).toEqual([]);
  });
});

describe('the Discord stand-in limits', () => {
  let fake: Fake;
  let client: Client;

  beforeAll(async () => {
    fake = await startFakeDiscordApi({ rateLimit: { limit: 2, windowMs: 1000 }, answerWithinMs: 300 });
    client = newClient(fake);
    await loggedIn(fake, client);
  });

  afterAll(async () => {
    await client?.destroy();
    await fake?.close();
  });

  it('answers a burst with 429s that discord.js waits out, and every message gets through', async () => {
    const users = Array.from({ length: 5 }, (_, k) => fake.newUser(`burst${k}`));
    const started = Date.now();
    // Each DM channel is a queue of its own in discord.js; the stand-in's bucket is shared by all.
    const dms = await Promise.all(users.map((u) => client.users.createDM(u.id)));
    await Promise.all(dms.map((dm, k) => dm.send(`hello ${users[k]?.username}`)));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fake.tooMany).toBeGreaterThan(0);
    const sentDms = fake.sent.filter((s: { kind: string }) => s.kind === 'dm');
    expect(sentDms.map((s: { userId: string }) => s.userId).sort()).toEqual(users.map((u: { id: string }) => u.id).sort());
    const limited = fake.calls.filter((c: { status?: number }) => c.status === 429);
    expect(limited.length).toBe(fake.tooMany);
    const res = await fetch(`${fake.apiRoot}/v10/users/@me`, { headers: { authorization: `Bot ${fake.token}` } });
    expect(res.headers.get('x-ratelimit-limit')).toBe('2');
    expect(res.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('forgets an interaction not answered in time: the late answer gets "Unknown interaction"', async () => {
    const user = fake.newUser('slow');
    const failures: unknown[] = [];
    client.on(Events.InteractionCreate, async (i) => {
      if (!i.isChatInputCommand()) return;
      await new Promise((r) => setTimeout(r, 500));
      await i.reply('too late').catch((e: unknown) => failures.push(e));
    });
    const { id } = fake.command(user, 'vm');
    await until('the late answer', () => failures.length === 1);
    expect((failures[0] as DiscordAPIError).code).toBe(10062);
    expect(fake.interaction(id).answeredAt).toBeUndefined();
    expect(fake.interaction(id).expired).toBe(true);
  });

  it('refuses a client that asks for a privileged intent it was not granted (close 4014)', async () => {
    const greedy = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.MessageContent],
      rest: { api: fake.apiRoot },
    });
    try {
      const outcome = await Promise.race([
        greedy.login(fake.token).then(
          () => new Promise((resolve) => greedy.once(Events.ClientReady, () => resolve('ready'))),
          (e: Error) => e.message,
        ),
        new Promise((resolve) => setTimeout(() => resolve('timeout'), 5000)),
      ]);
      expect(outcome).toMatch(/disallowed intents/i);
      expect(Number(fake.identifies.at(-1).intents) & PRIVILEGED_INTENTS).not.toBe(0);
    } finally {
      await greedy.destroy();
    }
  });
});
