// A local stand-in for the Telegram Bot API: what berth's bot calls, answered the way
// Telegram answers, plus a "user side" to send messages and press buttons. Used by the
// bot tests and the bot benchmark (plain JS so that bench/ can import it as it is).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import busboy from 'busboy';

const BOT = { id: 7000001, is_bot: true, first_name: 'berth test bot', username: 'berth_test_bot' };

function readBody(req) {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/form-data')) {
      const fields = {};
      const files = {};
      const bb = busboy({ headers: req.headers });
      bb.on('field', (name, value) => {
        fields[name] = value;
      });
      bb.on('file', (name, stream, info) => {
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => {
          files[name] = { name: info.filename, data: Buffer.concat(chunks) };
        });
      });
      bb.on('close', () => resolve({ fields, files }));
      bb.on('error', reject);
      req.pipe(bb);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ fields: text ? JSON.parse(text) : {}, files: {} });
    });
    req.on('error', reject);
  });
}

/** Multipart fields are strings; JSON-encoded ones (reply_markup, chat_id) are decoded. */
function field(fields, name) {
  const value = fields[name];
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/**
 * Telegram's flood limits, when `options.flood` is given ({ perSecond: 30, perChatMs: 1000 }):
 * a send or edit that would make more than `perSecond` in any sliding second overall, or that
 * comes less than `perChatMs` after the last one to the same chat, is refused with 429 and a
 * retry_after, as Telegram does. Returns a checker that says how long to wait (0: accepted).
 */
function floodLimits({ perSecond = 30, perChatMs = 1000 } = {}) {
  const recent = [];
  const lastToChat = new Map();
  return (chatId) => {
    const now = performance.now();
    while (recent.length && now - recent[0] >= 1000) recent.shift();
    const last = lastToChat.get(chatId);
    if (recent.length >= perSecond) return Math.ceil((recent[0] + 1000 - now) / 1000);
    if (last !== undefined && now - last < perChatMs) return Math.ceil((last + perChatMs - now) / 1000);
    recent.push(now);
    lastToChat.set(chatId, now);
    return 0;
  };
}

export async function startFakeBotApi(options = {}) {
  const token = options.token ?? `123456:${randomBytes(18).toString('base64url')}`;
  const updates = [];
  const waiters = new Set();
  const sent = [];
  /** Messages the bot deleted ({ chatId, messageId }). */
  const deleted = [];
  const sentWaiters = new Set();
  const calls = [];
  const files = new Map();
  const failures = new Map();
  let nextUpdateId = 1;
  let nextMessageId = 1000;
  let nextFileId = 1;
  let webhook = null;
  let lastOffset = 0;
  const pushedAt = new Map();
  const flood = options.flood ? floodLimits(options.flood) : null;
  const refused = { flood: 0 };

  const notifyPollers = () => {
    for (const w of [...waiters]) w();
  };

  const record = (entry) => {
    entry.at = performance.now();
    sent.push(entry);
    for (const w of [...sentWaiters]) w(entry);
  };

  const storeFile = (name, data) => {
    const id = `file${nextFileId++}`;
    files.set(id, { name, data, path: `documents/${id}_${name}` });
    return id;
  };

  const message = (chatId, extra) => ({
    message_id: nextMessageId++,
    date: Math.floor(Date.now() / 1000),
    chat: { id: chatId, type: 'private' },
    from: BOT,
    ...extra,
  });

  async function handle(method, req, res) {
    const { fields, files: upload } = await readBody(req);
    calls.push({ method, params: fields, at: Date.now() });
    const reply = (result) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, result }));
    };
    const fail = (code, description, parameters) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) }));
    };
    const planned = failures.get(method);
    if (planned?.length) {
      const f = planned.shift();
      return fail(f.error_code, f.description, f.retry_after ? { retry_after: f.retry_after } : undefined);
    }
    const chatId = Number(field(fields, 'chat_id'));
    if (options.blocked?.has(chatId) && method.startsWith('send')) return fail(403, 'Forbidden: bot was blocked by the user');
    if (flood && /^(send|edit)/.test(method) && method !== 'sendChatAction') {
      const wait = flood(chatId);
      if (wait > 0) {
        refused.flood++;
        return fail(429, `Too Many Requests: retry after ${wait}`, { retry_after: wait });
      }
    }
    switch (method) {
      case 'getMe':
        return reply(BOT);
      case 'getUpdates': {
        const offset = Number(field(fields, 'offset') ?? 0);
        const timeout = Math.min(Number(field(fields, 'timeout') ?? 0), 5);
        lastOffset = Math.max(lastOffset, offset);
        while (updates.length && updates[0].update_id < offset) updates.shift();
        if (updates.length === 0 && timeout > 0) {
          await new Promise((resolve) => {
            const done = () => {
              clearTimeout(timer);
              waiters.delete(done);
              resolve();
            };
            const timer = setTimeout(done, timeout * 1000);
            waiters.add(done);
            req.on('close', done);
          });
        }
        const limit = Number(field(fields, 'limit') ?? 100);
        return reply(updates.filter((u) => u.update_id >= offset).slice(0, limit));
      }
      case 'sendMessage': {
        const m = message(chatId, { text: String(field(fields, 'text')) });
        record({
          method,
          chatId,
          text: m.text,
          messageId: m.message_id,
          replyMarkup: field(fields, 'reply_markup'),
          parseMode: fields.parse_mode,
        });
        return reply(m);
      }
      case 'editMessageText': {
        const messageId = Number(field(fields, 'message_id'));
        const text = String(field(fields, 'text'));
        record({ method, chatId, text, messageId, replyMarkup: field(fields, 'reply_markup'), parseMode: fields.parse_mode });
        return reply(message(chatId, { message_id: messageId, text }));
      }
      case 'sendDocument': {
        // grammY sends the file as its own part, named in the field: "attach://<part>".
        const ref = typeof fields.document === 'string' && fields.document.startsWith('attach://') ? fields.document.slice(9) : 'document';
        const doc = upload[ref];
        if (!doc) return fail(400, 'Bad Request: there is no document in the request');
        const fileId = storeFile(doc.name, doc.data);
        const m = message(chatId, {
          document: { file_id: fileId, file_unique_id: fileId, file_name: doc.name, file_size: doc.data.length },
        });
        record({
          method,
          chatId,
          text: field(fields, 'caption') ?? '',
          messageId: m.message_id,
          document: { name: doc.name, data: doc.data },
        });
        return reply(m);
      }
      case 'getFile': {
        const id = String(field(fields, 'file_id'));
        const f = files.get(id);
        if (!f) return fail(400, 'Bad Request: invalid file_id');
        if (options.maxDownload && f.data.length > options.maxDownload) return fail(400, 'Bad Request: file is too big');
        return reply({ file_id: id, file_unique_id: id, file_size: f.data.length, file_path: f.path });
      }
      case 'deleteMessage': {
        const messageId = Number(field(fields, 'message_id'));
        deleted.push({ chatId, messageId });
        return reply(true);
      }
      case 'answerCallbackQuery':
      case 'setMyCommands':
      case 'deleteMyCommands':
      case 'sendChatAction':
      case 'deleteWebhook':
        return reply(true);
      case 'setWebhook':
        webhook = { url: String(field(fields, 'url')), secret: field(fields, 'secret_token') ?? null };
        return reply(true);
      case 'getWebhookInfo':
        return reply({ url: webhook?.url ?? '', has_custom_certificate: false, pending_update_count: 0 });
      default:
        return fail(404, `Not Found: method ${method} is not in the fake`);
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const api = url.pathname.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
    const file = url.pathname.match(/^\/file\/bot([^/]+)\/(.+)$/);
    if ((api && api[1] !== token) || (file && file[1] !== token)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
      return;
    }
    if (api) {
      handle(api[2], req, res).catch((err) => {
        res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    if (file) {
      const f = [...files.values()].find((x) => x.path === decodeURIComponent(file[2]));
      if (!f) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(f.data);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  // `options.host`: another address of this host (a Docker network's gateway, for a bot in a container).
  const host = options.host ?? '127.0.0.1';
  await new Promise((resolve) => server.listen(0, host, resolve));
  const { port } = server.address();
  const apiRoot = `http://${host}:${port}`;

  const push = (update) => {
    const u = { update_id: nextUpdateId++, ...update };
    pushedAt.set(u.update_id, performance.now());
    updates.push(u);
    notifyPollers();
    return u;
  };

  const from = (user) => ({
    id: user.id,
    is_bot: false,
    first_name: user.firstName ?? user.username ?? `user${user.id}`,
    ...(user.username ? { username: user.username } : {}),
  });

  const commandEntities = (text) => {
    const m = text.match(/^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/);
    return m ? [{ type: 'bot_command', offset: 0, length: m[0].length }] : undefined;
  };

  return {
    token,
    apiRoot,
    bot: BOT,
    sent,
    calls,
    deleted,
    /** Calls refused with 429 by the flood limits (`options.flood`). */
    refused,
    get webhook() {
      return webhook;
    },
    /** Any update at all, as given (a hostile or odd one); gets the next update_id. */
    pushUpdate(update) {
      return push(update);
    },
    /** The update_id of the last update queued. */
    get lastUpdateId() {
      return nextUpdateId - 1;
    },
    /** A private message from `user` ({ id, username? }). */
    sendText(user, text, extra = {}) {
      const entities = commandEntities(text);
      const m = {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: user.id, type: 'private' },
        from: from(user),
        text,
        ...(entities ? { entities } : {}),
        ...extra,
      };
      return push({ message: m });
    },
    /** A document from `user`, with a caption (e.g. "/upload dir"). */
    sendDocument(user, name, data, caption) {
      const fileId = storeFile(name, data);
      const entities = caption ? commandEntities(caption) : undefined;
      const m = {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: user.id, type: 'private' },
        from: from(user),
        document: { file_id: fileId, file_unique_id: fileId, file_name: name, file_size: data.length },
        ...(caption ? { caption } : {}),
        ...(entities ? { caption_entities: entities } : {}),
      };
      return { update: push({ message: m }), message: m };
    },
    /** A photo from `user` (Telegram sends sizes of it; the largest last), with a caption. */
    sendPhoto(user, data, caption) {
      const fileId = storeFile('photo.jpg', data);
      const m = {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: user.id, type: 'private' },
        from: from(user),
        photo: [{ file_id: fileId, file_unique_id: fileId, width: 90, height: 90, file_size: data.length }],
        ...(caption ? { caption } : {}),
      };
      return { update: push({ message: m }), message: m };
    },
    /**
     * `user` presses an inline button with `data` under the bot's message `messageId`, in the chat
     * that message was sent to (the presser's own chat when the message is unknown).
     */
    pressButton(user, messageId, data) {
      const chatId = sent.find((s) => s.messageId === messageId && s.method === 'sendMessage')?.chatId ?? user.id;
      return push({
        callback_query: {
          id: `cb${nextUpdateId}`,
          from: from(user),
          chat_instance: 'ci',
          data,
          message: {
            message_id: messageId,
            date: Math.floor(Date.now() / 1000),
            chat: { id: chatId, type: 'private' },
            from: BOT,
            text: '…',
          },
        },
      });
    },
    /** Resolves with the first message the bot sends (or sent since `after`) matching `predicate`. */
    waitFor(predicate, { timeoutMs = 30000, after = 0 } = {}) {
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
          const last = sent.slice(-5).map((s) => `${s.method} to ${s.chatId}: ${String(s.text).slice(0, 200)}`);
          reject(new Error(`the bot sent no matching message in ${timeoutMs} ms; last sent:\n${last.join('\n')}`));
        }, timeoutMs);
        sentWaiters.add(waiter);
      });
    },
    /** Makes the next `count` calls of `method` fail as Telegram would. */
    failNext(method, error, count = 1) {
      failures.set(method, [...(failures.get(method) ?? []), ...Array.from({ length: count }, () => error)]);
    },
    /** When each update was queued (performance.now()), by update_id. */
    pushedAt,
    /** The highest getUpdates offset the bot asked for (every update below it is handled). */
    get confirmedOffset() {
      return lastOffset;
    },
    fileData(fileId) {
      return files.get(fileId)?.data;
    },
    async close() {
      for (const w of [...waiters]) w();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
