// A local stand-in for Discord: the REST API (under /api/v10) and the gateway (a WebSocket,
// JSON encoding) that discord.js 14 talks to, answered the way Discord answers, plus a "user
// side" that runs slash commands, presses buttons, submits modals and sends DMs. Plain JS, like
// fake-bot-api.js (the Telegram one), so that bench/ can import it as it is.
//
// What discord.js needs from it (found by reading discord.js 14, @discordjs/rest and @discordjs/ws):
// - REST: `rest.api` is the part before `/v10` (http://host/api); calls go to `${api}/v10${route}`.
//   Interaction callbacks and webhook (follow-up, @original) calls carry no Authorization header.
// - Gateway: plain JSON text frames (compression is only asked for when zlib-sync is installed,
//   and text frames are parsed as they are even then). A close with 1000 makes the client
//   identify again; any other close (a dropped connection: 1006) makes it RESUME.
// - READY must list every guild (as unavailable) and a GUILD_CREATE must follow for each, or
//   the client waits `waitGuildTimeout` (15 s) before it is ready.
// - Rate limits: the client reads X-RateLimit-* to wait before a bucket runs out, so a 429 only
//   happens when requests from different queues (per channel / per webhook) share a bucket. The
//   buckets here are per route with the ids left out (POST /channels/:id/messages for every
//   channel at once), which is how Discord's shared limits behave.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import busboy from 'busboy';
import { WebSocketServer } from 'ws';

const DISCORD_EPOCH = 1420070400000n;
let increment = 0n;

/** A Discord id: 17–19 digits, ordered by time (discord.js buckets requests by ids of that size). */
export function snowflake() {
  increment = (increment + 1n) & 0xfffn;
  return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n) | increment);
}

/** Privileged gateway intents: GuildMembers, GuildPresences, MessageContent. */
export const PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15);

const EPHEMERAL = 64;
const OP = {
  dispatch: 0,
  heartbeat: 1,
  identify: 2,
  presence: 3,
  voice: 4,
  resume: 6,
  reconnect: 7,
  requestMembers: 8,
  invalidSession: 9,
  hello: 10,
  ack: 11,
};
const CALLBACK = { pong: 1, reply: 4, deferredReply: 5, deferredUpdate: 6, update: 7, autocomplete: 8, modal: 9 };
const OPTION_TYPE = {
  subcommand: 1,
  group: 2,
  string: 3,
  integer: 4,
  boolean: 5,
  user: 6,
  channel: 7,
  role: 8,
  number: 10,
  attachment: 11,
};
// View channel, send messages, embed links, attach files, read history, use application commands.
const BOT_PERMISSIONS = String((1n << 10n) | (1n << 11n) | (1n << 14n) | (1n << 15n) | (1n << 16n) | (1n << 31n));
const MEMBER_PERMISSIONS = BOT_PERMISSIONS;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/form-data')) {
      const fields = {};
      const files = [];
      const bb = busboy({ headers: req.headers });
      bb.on('field', (name, value) => {
        fields[name] = value;
      });
      bb.on('file', (name, stream, info) => {
        const chunks = [];
        const file = { field: name, name: info.filename, contentType: info.mimeType, data: Buffer.alloc(0) };
        files.push(file);
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => {
          file.data = Buffer.concat(chunks);
        });
      });
      bb.on('close', () => {
        try {
          resolve({ body: fields.payload_json ? JSON.parse(fields.payload_json) : {}, files });
        } catch (err) {
          reject(err);
        }
      });
      bb.on('error', reject);
      req.pipe(bb);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve({ body: text ? JSON.parse(text) : undefined, files: [] });
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

/** Buttons anywhere in a message's components (action rows, sections, containers). */
function flattenButtons(components) {
  const out = [];
  const walk = (list) => {
    for (const c of list ?? []) {
      if (c.type === 2)
        out.push({ label: c.label ?? null, customId: c.custom_id ?? null, style: c.style, ...(c.url ? { url: c.url } : {}) });
      if (Array.isArray(c.components)) walk(c.components);
      if (c.accessory) walk([c.accessory]);
      if (c.component) walk([c.component]);
    }
  };
  walk(components);
  return out;
}

/** Text inputs of a modal, whether in action rows (with their own label) or in label components (type 18). */
function modalFields(components) {
  const out = [];
  const walk = (list, label) => {
    for (const c of list ?? []) {
      if (c.type === 4) out.push({ customId: c.custom_id, label: c.label ?? label ?? null, type: c.type });
      else if (c.type === 18 && c.component) walk([c.component], c.label);
      else if (Array.isArray(c.components)) walk(c.components, label);
    }
  };
  walk(components);
  return out;
}

/** A modal submission's components, in the shape the modal was shown in. */
function submittedComponents(components, values) {
  const map = (c) => {
    if (c.type === 4) return { type: 4, id: c.id, custom_id: c.custom_id, value: String(values[c.custom_id] ?? '') };
    if (c.type === 18 && c.component) return { type: 18, id: c.id, component: map(c.component) };
    if (Array.isArray(c.components)) return { type: c.type, id: c.id, components: c.components.map(map).filter(Boolean) };
    return c.type === 10 ? { type: 10, id: c.id } : null;
  };
  return (components ?? []).map(map).filter(Boolean);
}

export async function startFakeDiscordApi(options = {}) {
  const applicationId = options.applicationId ?? snowflake();
  const token =
    options.token ??
    `${Buffer.from(applicationId).toString('base64url')}.${randomBytes(4).toString('base64url')}.${randomBytes(28).toString('base64url')}`;
  const botUser = {
    id: applicationId,
    username: options.botName ?? 'berth-test-bot',
    discriminator: '0',
    global_name: null,
    avatar: null,
    bot: true,
    verified: true,
    mfa_enabled: false,
    flags: 0,
    public_flags: 0,
  };
  const heartbeatInterval = options.heartbeatInterval ?? 41250;
  /** Time Discord gives for the first answer to an interaction before it is "Unknown interaction". */
  const answerWithinMs = options.answerWithinMs ?? 3000;
  const allowedPrivileged = options.privilegedIntents ?? 0;

  const calls = [];
  const sent = [];
  const sentWaiters = new Set();
  const identifies = [];
  const resumes = [];
  const leftGuilds = [];
  const deleted = [];
  const commands = [];
  const guildCommands = new Map();
  const messages = new Map();
  const attachments = new Map();
  const interactions = new Map();
  const interactionsByToken = new Map();
  const users = new Map();
  const dmChannels = new Map();
  const channels = new Map();
  const dmsClosed = new Set(options.dmsClosed ?? []);
  const guilds = new Map();
  const sessions = new Map();
  const sockets = new Set();
  const rate = { buckets: new Map(), tooMany: 0 };
  let closed = false;

  const apiUser = (user) => ({
    id: String(user.id),
    username: user.username ?? `user${user.id}`,
    discriminator: '0',
    global_name: user.globalName ?? user.username ?? null,
    avatar: null,
    bot: false,
    flags: 0,
    public_flags: 0,
    banner: null,
    accent_color: null,
    avatar_decoration_data: null,
  });

  const addUser = (user) => {
    if (!user || typeof user.id !== 'string' || !/^\d{17,20}$/.test(user.id)) {
      throw new Error(`a Discord user needs a snowflake string id (got ${JSON.stringify(user?.id)}); use fake.newUser()`);
    }
    users.set(user.id, { ...users.get(user.id), ...user });
    return users.get(user.id);
  };
  for (const u of options.users ?? []) addUser(u);

  const dmChannelOf = (userId) => {
    let id = dmChannels.get(userId);
    if (!id) {
      id = snowflake();
      dmChannels.set(userId, id);
      channels.set(id, { id, type: 1, userId, last_message_id: null });
    }
    return channels.get(id);
  };

  const apiChannel = (channel) => {
    if (channel.type === 1) {
      return {
        id: channel.id,
        type: 1,
        last_message_id: channel.last_message_id,
        flags: 0,
        recipients: [apiUser(users.get(channel.userId))],
      };
    }
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      position: 0,
      permission_overwrites: [],
      parent_id: null,
      nsfw: false,
      topic: null,
      last_message_id: channel.last_message_id ?? null,
      rate_limit_per_user: 0,
      flags: 0,
    };
  };

  const addGuild = (g) => {
    const guild = {
      id: g.id ?? snowflake(),
      name: g.name ?? 'berth test guild',
      roles: g.roles ?? [],
      channelIds: [],
      joinedAt: new Date().toISOString(),
    };
    const channelList = g.channels ?? [{ id: snowflake(), name: 'general' }];
    for (const c of channelList) {
      const id = c.id ?? snowflake();
      channels.set(id, { id, type: c.type ?? 0, guildId: guild.id, name: c.name ?? 'general', last_message_id: null });
      guild.channelIds.push(id);
    }
    guilds.set(guild.id, guild);
    return guild;
  };
  for (const g of options.guilds ?? []) addGuild(g);

  const guildChannel = (guild, channelId) => {
    if (!channelId) return channels.get(guild.channelIds[0]);
    let channel = channels.get(channelId);
    if (!channel) {
      channel = { id: channelId, type: 0, guildId: guild.id, name: `channel-${channelId.slice(-4)}`, last_message_id: null };
      channels.set(channelId, channel);
      guild.channelIds.push(channelId);
    }
    return channel;
  };

  const apiRole = (guildId, role, position) => ({
    id: role.id,
    name: role.name ?? role.id,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: role.permissions ?? (role.id === guildId ? MEMBER_PERMISSIONS : '0'),
    managed: false,
    mentionable: false,
    flags: 0,
  });

  const apiGuild = (guild) => ({
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: options.guildOwnerId ?? '100000000000000001',
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    roles: [apiRole(guild.id, { id: guild.id, name: '@everyone' }, 0), ...guild.roles.map((r, i) => apiRole(guild.id, r, i + 1))],
    emojis: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: guild.channelIds[0] ?? null,
    system_channel_flags: 0,
    rules_channel_id: null,
    max_members: 500000,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    stickers: [],
    joined_at: guild.joinedAt,
    large: false,
    unavailable: false,
    member_count: 2,
    voice_states: [],
    members: [
      {
        user: botUser,
        roles: [],
        joined_at: guild.joinedAt,
        deaf: false,
        mute: false,
        flags: 0,
        pending: false,
        nick: null,
        avatar: null,
        premium_since: null,
        communication_disabled_until: null,
      },
    ],
    channels: guild.channelIds.map((id) => apiChannel(channels.get(id))),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  });

  // ── the gateway ─────────────────────────────────────────────────────────────────────────────

  /**
   * A gateway session: its events (so that a RESUME replays what was missed) and its socket while
   * one is connected. Every live session gets every dispatch, as every connected shard would.
   */
  const dispatch = (t, d) => {
    if (sessions.size === 0) throw new Error(`no gateway session to send ${t} to: log the client in first (client.login(fake.token))`);
    for (const session of sessions.values()) {
      const payload = { op: OP.dispatch, t, s: ++session.seq, d };
      session.events.push(payload);
      if (session.events.length > 5000) session.events.splice(0, 1000);
      if (session.socket && session.ready) sendFrame(session.socket, payload);
    }
  };

  const sendFrame = (socket, payload) => {
    if (socket.readyState !== socket.OPEN) return;
    if (payload.t === 'INTERACTION_CREATE') {
      const i = interactions.get(payload.d.id);
      if (i && i.dispatchedAt === undefined) i.dispatchedAt = performance.now();
    }
    socket.send(JSON.stringify(payload));
  };

  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (socket, req) => {
    sockets.add(socket);
    const url = new URL(req.url ?? '/', 'http://x');
    let session = null;
    if (url.searchParams.get('encoding') && url.searchParams.get('encoding') !== 'json') {
      socket.close(4002, 'Only the json encoding is supported by the stand-in');
      return;
    }
    socket.send(JSON.stringify({ op: OP.hello, d: { heartbeat_interval: heartbeatInterval, _trace: ['["fake-discord-gateway"]'] } }));
    socket.on('message', (raw) => {
      let payload;
      try {
        payload = JSON.parse(String(raw));
      } catch {
        socket.close(4002, 'Error while decoding payload');
        return;
      }
      switch (payload.op) {
        case OP.heartbeat:
          socket.send(JSON.stringify({ op: OP.ack }));
          return;
        case OP.identify: {
          if (session) return socket.close(4005, 'Already authenticated');
          identifies.push({ ...payload.d, at: performance.now() });
          if (payload.d?.token !== token) return socket.close(4004, 'Authentication failed');
          const intents = Number(payload.d.intents);
          if (!Number.isInteger(intents) || intents < 0 || intents >= 1 << 26) return socket.close(4013, 'Invalid intent(s)');
          if (intents & PRIVILEGED_INTENTS & ~allowedPrivileged) return socket.close(4014, 'Disallowed intent(s)');
          session = { id: randomBytes(16).toString('hex'), seq: 0, events: [], socket, ready: true, intents };
          sessions.set(session.id, session);
          const ready = {
            op: OP.dispatch,
            t: 'READY',
            s: ++session.seq,
            d: {
              v: 10,
              user: botUser,
              user_settings: {},
              guilds: [...guilds.values()].map((g) => ({ id: g.id, unavailable: true })),
              guild_join_requests: [],
              relationships: [],
              private_channels: [],
              presences: [],
              session_id: session.id,
              session_type: 'normal',
              resume_gateway_url: `${gatewayUrl}-resume`,
              shard: payload.d.shard ?? [0, 1],
              application: { id: applicationId, flags: options.applicationFlags ?? 0 },
              geo_ordered_rtc_regions: [],
              auth: {},
              _trace: ['["fake-discord-gateway"]'],
            },
          };
          session.events.push(ready);
          sendFrame(socket, ready);
          for (const guild of guilds.values()) {
            const p = { op: OP.dispatch, t: 'GUILD_CREATE', s: ++session.seq, d: apiGuild(guild) };
            session.events.push(p);
            sendFrame(socket, p);
          }
          return;
        }
        case OP.resume: {
          const d = payload.d ?? {};
          resumes.push({ ...d, at: performance.now() });
          const old = sessions.get(d.session_id);
          if (d.token !== token) return socket.close(4004, 'Authentication failed');
          if (!old || typeof d.seq !== 'number' || d.seq > old.seq) {
            socket.send(JSON.stringify({ op: OP.invalidSession, d: false }));
            return;
          }
          if (old.socket && old.socket !== socket) old.socket.terminate();
          session = old;
          session.socket = socket;
          session.ready = true;
          for (const p of session.events.filter((e) => e.s > d.seq)) sendFrame(socket, p);
          const resumed = { op: OP.dispatch, t: 'RESUMED', s: ++session.seq, d: { _trace: ['["fake-discord-gateway"]'] } };
          session.events.push(resumed);
          sendFrame(socket, resumed);
          return;
        }
        case OP.presence:
        case OP.voice:
        case OP.requestMembers:
          if (!session) socket.close(4003, 'Not authenticated');
          return;
        default:
          socket.close(4001, 'Unknown opcode');
      }
    });
    socket.on('close', (code) => {
      sockets.delete(socket);
      if (!session || session.socket !== socket) return;
      session.socket = null;
      session.ready = false;
      // A clean close ends the session (the client identifies anew); anything else can resume.
      if (code === 1000 || code === 1001) sessions.delete(session.id);
    });
    socket.on('error', () => undefined);
  });

  // ── REST ────────────────────────────────────────────────────────────────────────────────────

  const baseMessage = (channel, extra) => {
    const id = snowflake();
    channel.last_message_id = id;
    return {
      id,
      type: 0,
      channel_id: channel.id,
      ...(channel.guildId ? { guild_id: channel.guildId } : {}),
      author: botUser,
      content: '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      flags: 0,
      components: [],
      ...extra,
    };
  };

  const storeUpload = (file, description) => {
    const id = snowflake();
    const att = {
      id,
      filename: file.name,
      size: file.data.length,
      url: `${origin}/attachments/${id}/${encodeURIComponent(file.name)}`,
      proxy_url: `${origin}/attachments/${id}/${encodeURIComponent(file.name)}`,
      content_type: file.contentType ?? 'application/octet-stream',
      ...(description ? { description } : {}),
    };
    attachments.set(id, { ...att, data: file.data });
    return att;
  };

  /** The message fields a create/edit body sets; files become attachments served by the stand-in. */
  const applyContent = (msg, body, files) => {
    if (body.content !== undefined) msg.content = body.content ?? '';
    if (body.embeds !== undefined) msg.embeds = body.embeds ?? [];
    if (body.components !== undefined) msg.components = body.components ?? [];
    if (body.flags !== undefined && body.flags !== null) msg.flags = (msg.flags & EPHEMERAL) | (body.flags & ~EPHEMERAL);
    let kept = msg.attachments;
    if (Array.isArray(body.attachments)) {
      const keep = new Set(body.attachments.map((a) => String(a.id)));
      kept = msg.attachments.filter((a) => keep.has(a.id));
    }
    const added = files.map((f, index) => {
      const described = body.attachments?.find?.((a) => String(a.id) === String(index));
      return storeUpload(f, described?.description);
    });
    msg.attachments = [...kept, ...added];
    return msg;
  };

  const putMessage = (msg, meta) => {
    messages.set(msg.id, { api: msg, ...meta });
    return msg;
  };

  const view = (id) => {
    const m = messages.get(id);
    if (!m) return undefined;
    return {
      messageId: m.api.id,
      channelId: m.api.channel_id,
      ...(m.api.guild_id ? { guildId: m.api.guild_id } : {}),
      ...(m.interactionId ? { interactionId: m.interactionId } : {}),
      userId: m.userId,
      content: m.api.content,
      ephemeral: Boolean(m.api.flags & EPHEMERAL),
      components: flattenButtons(m.api.components),
      files: m.api.attachments.map((a) => ({ name: a.filename, data: attachments.get(a.id)?.data })),
      embeds: m.api.embeds,
      deleted: Boolean(m.deleted),
    };
  };

  const record = (kind, msgId, extra = {}) => {
    const entry = { kind, ...(msgId ? view(msgId) : {}), ...extra, at: performance.now() };
    sent.push(entry);
    for (const w of [...sentWaiters]) w(entry);
    return entry;
  };

  const interactionMessage = (i, body, files, extra = {}) => {
    const channel = channels.get(i.channelId);
    const msg = baseMessage(channel, {
      webhook_id: applicationId,
      application_id: applicationId,
      interaction_metadata: {
        id: i.id,
        type: i.type,
        user: apiUser(users.get(i.userId)),
        authorizing_integration_owners: i.owners,
        ...(i.name ? { name: i.name, command_type: 1 } : {}),
      },
      ...extra,
    });
    applyContent(msg, body ?? {}, files);
    if (body?.flags & EPHEMERAL) msg.flags |= EPHEMERAL;
    return putMessage(msg, { interactionId: i.id, userId: i.userId });
  };

  /** Per-route buckets (ids left out), a fixed window each, when `options.rateLimit` is given. */
  const rateLimitFor = (method, route) => {
    if (!options.rateLimit) return null;
    const { limit, windowMs } = options.rateLimit;
    const key = `${method} ${route.replace(/\/\d{17,20}/g, '/:id').replace(/^\/(interactions|webhooks)\/:id\/[^/]+/, '/$1/:id/:token')}`;
    const now = Date.now();
    let b = rate.buckets.get(key);
    if (!b || now >= b.resetAt) {
      b = { count: 0, resetAt: now + windowMs, hash: randomBytes(16).toString('hex') };
      rate.buckets.set(key, b);
    }
    b.count++;
    const resetAfter = Math.max(0, b.resetAt - now) / 1000;
    const headers = {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - b.count)),
      'x-ratelimit-reset': (b.resetAt / 1000).toFixed(3),
      'x-ratelimit-reset-after': resetAfter.toFixed(3),
      'x-ratelimit-bucket': b.hash,
    };
    return { headers, limited: b.count > limit, retryAfter: resetAfter };
  };

  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    const att = path.match(/^\/attachments\/(\d+)\/[^/]+$/);
    if (att && method === 'GET') {
      const a = attachments.get(att[1]);
      if (!a) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': a.content_type, 'content-length': String(a.data.length) });
      res.end(a.data);
      return;
    }

    let headers = { 'content-type': 'application/json' };
    let call;
    const send = (status, json) => {
      if (call) call.status = status;
      if (status === 204) {
        const { 'content-type': _, ...rest } = headers;
        res.writeHead(204, rest);
        res.end();
        return;
      }
      res.writeHead(status, headers);
      res.end(JSON.stringify(json));
    };
    const error = (status, message, code = 0) => send(status, { message, code });

    const m = path.match(/^\/api\/v(\d+)(\/.*)$/);
    if (!m) return error(404, '404: Not Found');
    if (m[1] !== '10') return error(400, `Invalid API version: the stand-in answers v10 (got v${m[1]})`, 50041);
    let route;
    try {
      route = decodeURIComponent(m[2]);
    } catch {
      return error(404, '404: Not Found');
    }
    let parsed;
    try {
      parsed = await readBody(req);
    } catch {
      return error(400, 'The request body contains invalid JSON.', 50109);
    }
    const { body, files } = parsed;
    call = {
      method,
      path: route,
      query: Object.fromEntries(url.searchParams),
      body,
      files: files.map((f) => ({ name: f.name, data: f.data })),
      at: performance.now(),
    };
    calls.push(call);

    // Interaction callbacks and webhook calls with a token are made without the bot token.
    const tokenRoute = /^\/interactions\/\d+\/[^/]+\/callback$/.test(route) || /^\/webhooks\/\d+\/[^/]+/.test(route);
    if (!tokenRoute && req.headers.authorization !== `Bot ${token}`) {
      return error(401, '401: Unauthorized');
    }

    const limit = rateLimitFor(method, route);
    if (limit) {
      headers = { ...headers, ...limit.headers };
      if (limit.limited) {
        rate.tooMany++;
        headers['retry-after'] = String(Math.max(1, Math.ceil(limit.retryAfter)));
        headers['x-ratelimit-scope'] = 'user';
        return send(429, { message: 'You are being rate limited.', retry_after: Number(limit.retryAfter.toFixed(3)), global: false });
      }
    }
    return answer(method, route, url, body ?? {}, files, send, error);
  }

  async function answer(method, route, url, body, files, send, error) {
    let p;
    const is = (verb, re) => {
      if (method !== verb) return false;
      p = route.match(re);
      return Boolean(p);
    };

    if (is('GET', /^\/gateway\/bot$/)) {
      return send(200, {
        url: gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14400000, max_concurrency: 1 },
      });
    }
    if (is('GET', /^\/gateway$/)) return send(200, { url: gatewayUrl });
    if (is('GET', /^\/users\/@me$/)) return send(200, botUser);
    if (is('GET', /^\/(oauth2\/)?applications\/@me$/)) {
      return send(200, {
        id: applicationId,
        name: botUser.username,
        icon: null,
        description: '',
        summary: '',
        type: null,
        bot_public: false,
        bot_require_code_grant: false,
        verify_key: randomBytes(32).toString('hex'),
        flags: options.applicationFlags ?? 0,
        owner: {
          id: options.guildOwnerId ?? '100000000000000001',
          username: 'owner',
          discriminator: '0',
          avatar: null,
          flags: 0,
          public_flags: 0,
          global_name: null,
        },
        team: null,
        bot: botUser,
        approximate_guild_count: guilds.size,
        install_params: undefined,
        integration_types_config: { 0: {} },
      });
    }
    if (is('GET', /^\/users\/(\d+)$/)) {
      const u = users.get(p[1]);
      return u ? send(200, apiUser(u)) : error(404, 'Unknown User', 10013);
    }

    // Application commands, global and per guild.
    const commandRoute = route.match(/^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands(?:\/(\d+))?$/);
    if (commandRoute) {
      const [, app, guildId, commandId] = commandRoute;
      if (app !== applicationId) return error(403, 'Missing Access', 50001);
      if (guildId && !guilds.has(guildId)) return error(403, 'Missing Access', 50001);
      const list = guildId ? (guildCommands.get(guildId) ?? []) : commands;
      const stored = (c) => ({
        id: list.find((x) => x.name === c.name && (x.type ?? 1) === (c.type ?? 1))?.id ?? snowflake(),
        application_id: applicationId,
        version: snowflake(),
        type: 1,
        description: '',
        options: [],
        default_member_permissions: null,
        nsfw: false,
        ...(guildId ? { guild_id: guildId } : { integration_types: [0], contexts: null }),
        ...c,
      });
      const save = (next) => {
        if (guildId) guildCommands.set(guildId, next);
        else commands.splice(0, commands.length, ...next);
      };
      if (method === 'PUT' && !commandId) {
        if (!Array.isArray(body)) return error(400, 'Invalid Form Body', 50035);
        const next = body.map(stored);
        save(next);
        return send(200, next);
      }
      if (method === 'GET' && !commandId) return send(200, list);
      if (method === 'POST' && !commandId) {
        const c = stored(body);
        save([...list.filter((x) => x.id !== c.id), c]);
        return send(201, c);
      }
      const found = list.find((c) => c.id === commandId);
      if (!found) return error(404, 'Unknown application command', 10063);
      if (method === 'GET') return send(200, found);
      if (method === 'DELETE') {
        save(list.filter((c) => c !== found));
        return send(204);
      }
      if (method === 'PATCH') {
        Object.assign(found, body);
        return send(200, found);
      }
    }

    // The first answer to an interaction.
    if (is('POST', /^\/interactions\/(\d+)\/([^/]+)\/callback$/)) {
      const i = interactions.get(p[1]);
      if (!i || i.token !== p[2] || performance.now() - i.createdAt > answerWithinMs) {
        if (i && i.token === p[2] && i.answeredAt === undefined) i.expired = true;
        return error(404, 'Unknown interaction', 10062);
      }
      if (i.answeredAt !== undefined) return error(400, 'Interaction has already been acknowledged.', 40060);
      const type = body.type;
      const data = body.data ?? {};
      let messageId;
      switch (type) {
        case CALLBACK.reply: {
          const msg = interactionMessage(i, data, files, { type: i.type === 2 ? 20 : 19 });
          i.originalId = msg.id;
          messageId = msg.id;
          break;
        }
        case CALLBACK.deferredReply: {
          const msg = interactionMessage(i, { content: '', flags: (data.flags ?? 0) | 128 }, [], { type: i.type === 2 ? 20 : 19 });
          msg.flags = (data.flags ?? 0) & EPHEMERAL ? EPHEMERAL | 128 : 128; // 128: "loading"
          i.originalId = msg.id;
          messageId = msg.id;
          break;
        }
        case CALLBACK.deferredUpdate:
        case CALLBACK.update: {
          if (!i.messageId) return error(400, 'Interaction callback type is not valid for this interaction', 50035);
          const stored = messages.get(i.messageId);
          if (type === CALLBACK.update) {
            applyContent(stored.api, data, files);
            stored.api.edited_timestamp = new Date().toISOString();
          }
          i.originalId = i.messageId;
          messageId = i.messageId;
          break;
        }
        case CALLBACK.modal: {
          if (i.type === 5) return error(400, 'Interaction callback type is not valid for this interaction', 50035);
          const modal = { customId: data.custom_id, title: data.title, fields: modalFields(data.components) };
          i.modal = { ...modal, components: data.components };
          break;
        }
        case CALLBACK.pong:
        case CALLBACK.autocomplete:
          break;
        default:
          return error(400, 'Invalid Form Body', 50035);
      }
      i.answeredAt = performance.now();
      i.answeredAfterMs = i.answeredAt - (i.dispatchedAt ?? i.createdAt);
      i.callbackType = type;
      const kinds = { 4: 'reply', 5: 'deferred', 6: 'deferred', 7: 'update', 9: 'modal' };
      if (kinds[type]) {
        record(kinds[type], messageId, {
          callbackType: type,
          interactionId: i.id,
          userId: i.userId,
          channelId: i.channelId,
          ...(i.guildId ? { guildId: i.guildId } : {}),
          ...(type === CALLBACK.modal ? { modal: { customId: i.modal.customId, title: i.modal.title, fields: i.modal.fields } } : {}),
          ...(type === CALLBACK.modal ? { ephemeral: false, content: '', components: [], files: [], embeds: [] } : {}),
        });
      }
      if (url.searchParams.get('with_response') === 'true') {
        const msg = messageId ? messages.get(messageId).api : undefined;
        return send(200, {
          interaction: {
            id: i.id,
            type: i.type,
            response_message_id: messageId,
            response_message_loading: type === CALLBACK.deferredReply,
            response_message_ephemeral: msg ? Boolean(msg.flags & EPHEMERAL) : false,
          },
          resource: { type, ...(msg && type !== CALLBACK.deferredUpdate ? { message: msg } : {}) },
        });
      }
      return send(204);
    }

    // Follow-ups and edits through the interaction's webhook.
    const hook = route.match(/^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(@original|\d+))?$/);
    if (hook) {
      const [, app, hookToken, target] = hook;
      const i = interactionsByToken.get(hookToken);
      if (app !== applicationId || !i) return error(404, 'Unknown Webhook', 10015);
      if (i.answeredAt === undefined) return error(404, 'Unknown Webhook', 10015);
      const where = { interactionId: i.id, userId: i.userId, channelId: i.channelId, ...(i.guildId ? { guildId: i.guildId } : {}) };
      if (!target && method === 'POST') {
        const msg = interactionMessage(i, body, files, { type: 0 });
        if (!i.originalId) i.originalId = msg.id;
        record('followup', msg.id, where);
        return url.searchParams.get('wait') === 'true' ? send(200, msg) : send(204);
      }
      const id = target === '@original' ? i.originalId : target;
      const stored = id ? messages.get(id) : undefined;
      if (!stored || stored.deleted || (target !== '@original' && stored.interactionId !== i.id && id !== i.messageId)) {
        return error(404, 'Unknown Message', 10008);
      }
      if (method === 'GET') return send(200, stored.api);
      if (method === 'DELETE') {
        stored.deleted = true;
        deleted.push({ messageId: id, channelId: stored.api.channel_id, at: performance.now() });
        return send(204);
      }
      if (method === 'PATCH') {
        applyContent(stored.api, body, files);
        stored.api.flags &= ~128;
        stored.api.edited_timestamp = new Date().toISOString();
        record('edit', id, where);
        return send(200, stored.api);
      }
    }

    if (is('POST', /^\/users\/@me\/channels$/)) {
      const recipient = String(body.recipient_id ?? '');
      if (!users.has(recipient)) return error(400, 'Invalid Recipient(s)', 50033);
      return send(200, apiChannel(dmChannelOf(recipient)));
    }
    if (is('GET', /^\/channels\/(\d+)$/)) {
      const c = channels.get(p[1]);
      return c ? send(200, apiChannel(c)) : error(404, 'Unknown Channel', 10003);
    }
    if (is('POST', /^\/channels\/(\d+)\/messages$/)) {
      const channel = channels.get(p[1]);
      if (!channel) return error(404, 'Unknown Channel', 10003);
      if (channel.type === 1 && dmsClosed.has(channel.userId)) return error(403, 'Cannot send messages to this user', 50007);
      if (channel.guildId && !guilds.has(channel.guildId)) return error(403, 'Missing Access', 50001);
      const msg = applyContent(baseMessage(channel), body, files);
      if (!msg.content && !msg.embeds.length && !msg.attachments.length && !msg.components.length) {
        return error(400, 'Cannot send an empty message', 50006);
      }
      putMessage(msg, { userId: channel.userId });
      record(channel.type === 1 ? 'dm' : 'channel', msg.id, channel.type === 1 ? { userId: channel.userId } : {});
      return send(200, msg);
    }
    if (is('GET', /^\/channels\/(\d+)\/messages\/(\d+)$/)) {
      const stored = messages.get(p[2]);
      if (!stored || stored.deleted || stored.api.channel_id !== p[1] || stored.api.flags & EPHEMERAL)
        return error(404, 'Unknown Message', 10008);
      return send(200, stored.api);
    }
    if (is('PATCH', /^\/channels\/(\d+)\/messages\/(\d+)$/)) {
      const stored = messages.get(p[2]);
      if (!stored || stored.deleted || stored.api.channel_id !== p[1] || stored.api.flags & EPHEMERAL)
        return error(404, 'Unknown Message', 10008);
      if (stored.api.author.id !== botUser.id || stored.api.webhook_id)
        return error(403, 'Cannot edit a message authored by another user', 50005);
      applyContent(stored.api, body, files);
      stored.api.edited_timestamp = new Date().toISOString();
      record('edit', p[2], { userId: stored.userId });
      return send(200, stored.api);
    }
    if (is('DELETE', /^\/channels\/(\d+)\/messages\/(\d+)$/)) {
      const stored = messages.get(p[2]);
      if (!stored || stored.deleted || stored.api.channel_id !== p[1]) return error(404, 'Unknown Message', 10008);
      stored.deleted = true;
      deleted.push({ messageId: p[2], channelId: p[1], at: performance.now() });
      return send(204);
    }
    if (is('POST', /^\/channels\/(\d+)\/typing$/)) return send(204);
    if (is('GET', /^\/users\/@me\/guilds$/)) {
      return send(
        200,
        [...guilds.values()].map((g) => ({ id: g.id, name: g.name, icon: null, owner: false, permissions: BOT_PERMISSIONS, features: [] })),
      );
    }
    if (is('DELETE', /^\/users\/@me\/guilds\/(\d+)$/)) {
      const guild = guilds.get(p[1]);
      if (!guild) return error(404, 'Unknown Guild', 10004);
      guilds.delete(p[1]);
      leftGuilds.push({ guildId: p[1], at: performance.now() });
      send(204);
      if (sessions.size) dispatch('GUILD_DELETE', { id: p[1] });
      return;
    }
    return error(404, '404: Not Found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: String(err?.stack ?? err), code: 0 }));
    });
  });
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!path.startsWith('/gateway')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  const apiRoot = `${origin}/api`;
  const gatewayUrl = `ws://127.0.0.1:${port}/gateway`;

  // ── the user side ───────────────────────────────────────────────────────────────────────────

  /** Where an interaction happens: a guild channel (`where.guildId`) or the user's DM channel. */
  const place = (user, where = {}) => {
    if (where.guildId) {
      const guild = guilds.get(where.guildId);
      if (!guild) throw new Error(`the bot is not in guild ${where.guildId}`);
      return { guild, channel: guildChannel(guild, where.channelId) };
    }
    if (where.channelId && channels.has(where.channelId)) {
      const channel = channels.get(where.channelId);
      return { guild: channel.guildId ? guilds.get(channel.guildId) : undefined, channel };
    }
    return { channel: dmChannelOf(user.id) };
  };

  const createInteraction = (user, type, data, where = {}, extra = {}) => {
    addUser(user);
    const { guild, channel } = place(user, where);
    const id = snowflake();
    const interactionToken = `aW50ZXJhY3Rpb246${Buffer.from(id).toString('base64url')}${randomBytes(60).toString('base64url')}`;
    const owners = guild ? { 0: guild.id } : { 1: user.id };
    const i = {
      id,
      token: interactionToken,
      type,
      userId: user.id,
      channelId: channel.id,
      guildId: guild?.id,
      owners,
      name: type === 2 ? data.name : undefined,
      messageId: extra.messageId,
      createdAt: performance.now(),
    };
    interactions.set(id, i);
    interactionsByToken.set(interactionToken, i);
    const payload = {
      id,
      application_id: applicationId,
      type,
      data,
      token: interactionToken,
      version: 1,
      app_permissions: BOT_PERMISSIONS,
      locale: where.locale ?? 'en-US',
      entitlements: [],
      authorizing_integration_owners: owners,
      context: guild ? 0 : 1,
      attachment_size_limit: 10 * 1024 * 1024,
      channel: apiChannel(channel),
      channel_id: channel.id,
      ...(guild
        ? {
            guild_id: guild.id,
            guild: { id: guild.id, locale: 'en-US', features: [] },
            guild_locale: 'en-US',
            member: {
              user: apiUser(user),
              roles: where.roles ?? [],
              permissions: where.permissions ?? MEMBER_PERMISSIONS,
              joined_at: new Date(Date.now() - 86400000).toISOString(),
              nick: null,
              avatar: null,
              banner: null,
              deaf: false,
              mute: false,
              flags: 0,
              pending: false,
              premium_since: null,
              communication_disabled_until: null,
            },
          }
        : { user: apiUser(user) }),
      ...(extra.message ? { message: extra.message } : {}),
    };
    dispatch('INTERACTION_CREATE', payload);
    return { id, token: interactionToken };
  };

  const commandOption = (def, name, value) => {
    if (value && typeof value === 'object' && 'filename' in value && 'url' in value) {
      return { option: { name, type: OPTION_TYPE.attachment, value: value.id }, attachment: value };
    }
    let type = def?.type;
    if (!type) {
      if (typeof value === 'boolean') type = OPTION_TYPE.boolean;
      else if (typeof value === 'number') type = Number.isInteger(value) ? OPTION_TYPE.integer : OPTION_TYPE.number;
      else type = OPTION_TYPE.string;
    }
    if (type === OPTION_TYPE.integer || type === OPTION_TYPE.number) value = Number(value);
    else if (type === OPTION_TYPE.boolean) value = Boolean(value);
    else value = String(value);
    return { option: { name, type, value } };
  };

  const userSide = {
    /** A CHAT_INPUT command; `name` may be "group sub" or "cmd sub" for subcommands. */
    command(user, name, values = {}, where = {}) {
      const [top, ...subs] = name.split(' ');
      const registered = [...commands, ...(where.guildId ? (guildCommands.get(where.guildId) ?? []) : [])].find(
        (c) => c.name === top && (c.type ?? 1) === 1,
      );
      let defs = registered?.options ?? [];
      const path = [];
      for (const sub of subs) {
        const def = defs.find((o) => o.name === sub);
        path.push({ name: sub, type: def?.type ?? (sub === subs.at(-1) ? OPTION_TYPE.subcommand : OPTION_TYPE.group) });
        defs = def?.options ?? [];
      }
      const resolvedAttachments = {};
      const leafOptions = Object.entries(values).map(([n, v]) => {
        const { option, attachment } = commandOption(
          defs.find((o) => o.name === n),
          n,
          v,
        );
        if (attachment) resolvedAttachments[attachment.id] = attachment;
        return option;
      });
      let optionsTree = leafOptions;
      for (const level of path.reverse()) optionsTree = [{ ...level, options: optionsTree }];
      const data = {
        id: registered?.id ?? snowflake(),
        name: top,
        type: 1,
        ...(registered?.guild_id ? { guild_id: registered.guild_id } : {}),
        ...(optionsTree.length ? { options: optionsTree } : {}),
        ...(Object.keys(resolvedAttachments).length ? { resolved: { attachments: resolvedAttachments } } : {}),
      };
      return createInteraction(user, 2, data, where);
    },
    /** An attachment a user uploads with a command; the stand-in serves its bytes at `url`. */
    attachment(name, data, contentType = 'application/octet-stream') {
      const a = storeUpload({ name, data: Buffer.from(data), contentType });
      return { ...a, ephemeral: true };
    },
    /** `user` presses the button `customId` on the bot's message `messageId`. */
    press(user, messageId, customId, where = {}) {
      const stored = messages.get(messageId);
      if (!stored || stored.deleted) throw new Error(`the bot sent no message ${messageId} (or deleted it)`);
      const button = flattenButtons(stored.api.components).find((b) => b.customId === customId);
      if (!button) {
        const ids = flattenButtons(stored.api.components).map((b) => b.customId);
        throw new Error(`message ${messageId} has no button "${customId}" (it has: ${ids.join(', ') || 'none'})`);
      }
      const channel = channels.get(stored.api.channel_id);
      const at =
        where.guildId || where.channelId
          ? where
          : channel.guildId
            ? { guildId: channel.guildId, channelId: channel.id, ...where }
            : { channelId: channel.id, ...where };
      return createInteraction(user, 3, { custom_id: customId, component_type: 2 }, at, { messageId, message: stored.api });
    },
    /** `user` submits the modal `customId` the bot showed them, with text field values by custom id. */
    submitModal(user, customId, values = {}, where = {}) {
      const shown = [...interactions.values()].reverse().find((i) => i.modal?.customId === customId && i.userId === user.id);
      if (!shown) throw new Error(`the bot showed ${user.id} no modal "${customId}"`);
      const unknown = Object.keys(values).filter((k) => !shown.modal.fields.some((f) => f.customId === k));
      if (unknown.length) throw new Error(`modal "${customId}" has no field ${unknown.join(', ')}`);
      const at =
        where.guildId || where.channelId
          ? where
          : shown.guildId
            ? { guildId: shown.guildId, channelId: shown.channelId }
            : { channelId: shown.channelId };
      const message = shown.messageId ? messages.get(shown.messageId)?.api : undefined;
      return createInteraction(user, 5, { custom_id: customId, components: submittedComponents(shown.modal.components, values) }, at, {
        messageId: shown.messageId,
        message,
      });
    },
    /** A DM from `user` to the bot (MESSAGE_CREATE in their DM channel). */
    dm(user, text) {
      addUser(user);
      const channel = dmChannelOf(user.id);
      const msg = baseMessage(channel, { author: apiUser(user), content: text });
      putMessage(msg, { userId: user.id, fromUser: true });
      // channel_type tells discord.js it is a DM (it makes the partial DM channel from it).
      dispatch('MESSAGE_CREATE', { ...msg, channel_type: 1 });
      return msg;
    },
  };

  return {
    apiRoot,
    gatewayUrl,
    token,
    applicationId,
    botUser,
    calls,
    sent,
    identifies,
    resumes,
    leftGuilds,
    deleted,
    commands,
    guildCommands,
    get tooMany() {
      return rate.tooMany;
    },
    /** Interactions by id: { id, token, type, userId, channelId, guildId?, createdAt, dispatchedAt, answeredAt, callbackType, originalId, modal }. */
    interactions,
    interaction(id) {
      return interactions.get(id);
    },
    /** A message as it is now (edits applied): the same shape as a `sent` entry, without kind/at. */
    message(id) {
      return view(id);
    },
    /** The bytes of an attachment (one the bot uploaded or a user's), by attachment id. */
    attachmentData(id) {
      return attachments.get(id)?.data;
    },
    /** A new user with a fresh snowflake id, known to the stand-in (DMs to it work). */
    newUser(username = `user${users.size + 1}`) {
      return addUser({ id: snowflake(), username });
    },
    addUser,
    /** The DM channel id of `userId` (made on first use, as Discord does). */
    dmChannelId(userId) {
      return dmChannelOf(String(userId)).id;
    },
    /** Whether `userId` refuses DMs from the bot (403, code 50007). */
    closeDms(userId, isClosed = true) {
      if (isClosed) dmsClosed.add(String(userId));
      else dmsClosed.delete(String(userId));
    },
    /** Adds the bot to a guild while it runs (GUILD_CREATE). */
    joinGuild(g) {
      const guild = addGuild(g);
      dispatch('GUILD_CREATE', apiGuild(guild));
      return guild.id;
    },
    /** Any gateway dispatch at all (an odd or hostile one). */
    dispatch,
    ...userSide,
    /** Resolves with the first `sent` entry (or since index `after`) matching `predicate`. */
    waitFor(predicate, { timeoutMs = 15000, after = 0 } = {}) {
      const found = sent.slice(after).find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = (entry) => {
          if (!predicate(entry)) return;
          sentWaiters.delete(waiter);
          clearTimeout(timer);
          resolve(entry);
        };
        const timer = setTimeout(() => {
          sentWaiters.delete(waiter);
          const last = sent.slice(-5).map((s) => `${s.kind} to ${s.userId ?? s.channelId}: ${String(s.content ?? '').slice(0, 200)}`);
          reject(new Error(`the bot sent nothing matching in ${timeoutMs} ms; last sent:\n${last.join('\n')}`));
        }, timeoutMs);
        sentWaiters.add(waiter);
      });
    },
    /** Cuts every gateway connection as a network failure would (close 1006): the client resumes. */
    dropConnection() {
      for (const s of [...sockets]) s.terminate();
    },
    /** Asks every connected client to reconnect and resume (op 7). */
    requestReconnect() {
      for (const s of [...sockets]) if (s.readyState === s.OPEN) s.send(JSON.stringify({ op: OP.reconnect, d: null }));
    },
    /** Connected gateway sockets. */
    get connections() {
      return sockets.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...sentWaiters]) sentWaiters.delete(w);
      for (const s of [...sockets]) s.terminate();
      await new Promise((resolve) => wss.close(() => resolve()));
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
