// A stand-in for Anthropic's Messages API, enough for the real Claude Code CLI to hold a
// conversation offline: POST /v1/messages answered with server-sent events (or JSON when not
// streamed), count_tokens answered, anything else 404 JSON. What it answers depends on the last
// user turn of the conversation:
//   - a tool_result               → text: "Done: <the tool's output or 'ok'>" (after `answerDelayMs`)
//   - "make hello.txt"            → a tool_use of Bash: echo hi > hello.txt
//   - a text holding "stall"      → the stream starts and then never goes on (until the client leaves)
//   - "long answer N"             → text of N characters: numbered lines "line 1 …", "line 2 …"…
//   - "marked answer N"           → the same with markup characters in every line (<b>, *, _, `…)
//   - anything else               → text: "Answer <n>: I see <k> earlier user turn(s)."
// Every request is kept (`requests`: path, headers, body) for the tests to read.
import { createServer } from 'node:http';

const sse = (res, event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

function textOf(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((b) => b?.type === 'text')
    .map((b) => b.text)
    .join('\n');
}

/** The user's own words in a request (not tool results, not the CLI's reminders in <system-reminder>). */
export function userTexts(body) {
  return (body?.messages ?? [])
    .filter((m) => m.role === 'user')
    .map((m) =>
      textOf(m.content)
        .replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, '')
        .trim(),
    )
    .filter((t) => t && !t.startsWith('# Environment'));
}

/** N characters of numbered lines ("line 1 xxx…"), so that a test can tell every part came, in order. */
export function longText(n) {
  const lines = [];
  let size = 0;
  for (let i = 1; size < n; i++) {
    const line = `line ${i} ${'x'.repeat(60)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n').slice(0, n);
}

/** Like longText, with characters the messengers' markup escapes (HTML, Markdown) in every line. */
export function markedText(n) {
  const lines = [];
  let size = 0;
  for (let i = 1; size < n; i++) {
    const line = `line ${i} <b>*x*</b> & _y_ ~~z~~ |w| \`c\` > q #h -l ${'*_'.repeat(10)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n').slice(0, n);
}

export async function startFakeMessagesApi({ host = '127.0.0.1', port = 0, answerDelayMs = 1500 } = {}) {
  const requests = [];
  const open = new Set();
  let answers = 0;

  function plan(body) {
    const messages = body?.messages ?? [];
    // This turn: the user messages after the last assistant one (the CLI may send its
    // environment notes as a message of their own next to the prompt).
    const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant');
    const turn = messages.slice(lastAssistant + 1);
    const blocks = turn.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
    const result = blocks.find((b) => b?.type === 'tool_result');
    if (result) {
      const out = typeof result.content === 'string' ? result.content : textOf(result.content);
      return { kind: 'text', text: `Done: ${out.trim() || 'ok'}`, delay: answerDelayMs };
    }
    const said = turn.map((m) => textOf(m.content)).join('\n');
    if (/make hello\.txt/.test(said)) return { kind: 'tool', command: 'echo hi > hello.txt' };
    if (/stall/.test(said)) return { kind: 'stall' };
    const long = said.match(/long answer (\d+)/);
    if (long) return { kind: 'text', text: longText(Number(long[1])), delay: 0 };
    const marked = said.match(/marked answer (\d+)/);
    if (marked) return { kind: 'text', text: markedText(Number(marked[1])), delay: 0 };
    answers++;
    const earlier = userTexts({ messages: messages.slice(0, lastAssistant + 1) }).length;
    return { kind: 'text', text: `Answer ${answers}: I see ${earlier} earlier user turn(s).`, delay: 0 };
  }

  function message(content, stopReason) {
    return {
      id: `msg_${requests.length}`,
      type: 'message',
      role: 'assistant',
      model: 'claude-stand-in',
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 7 },
    };
  }

  async function answer(res, body) {
    // Requests without tools are the CLI's side questions (titles, summaries): a short text.
    const main = Array.isArray(body?.tools) && body.tools.length > 0;
    const what = main ? plan(body) : { kind: 'text', text: 'ok', delay: 0 };
    if (what.delay) await new Promise((r) => setTimeout(r, what.delay));
    if (!body?.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const content =
        what.kind === 'tool'
          ? [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: what.command, description: 'Make the file' } }]
          : [{ type: 'text', text: what.text ?? 'ok' }];
      res.end(JSON.stringify(message(content, what.kind === 'tool' ? 'tool_use' : 'end_turn')));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    sse(res, 'message_start', { type: 'message_start', message: { ...message([], null), usage: { input_tokens: 12, output_tokens: 1 } } });
    if (what.kind === 'stall') {
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    if (what.kind === 'tool') {
      const id = `toolu_${requests.length}`;
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id, name: 'Bash', input: {} },
      });
      sse(res, 'content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify({ command: what.command, description: 'Make the file' }) },
      });
      sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
      sse(res, 'message_delta', {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: { output_tokens: 20 },
      });
    } else {
      sse(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
      sse(res, 'content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: what.text } });
      sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
      sse(res, 'message_delta', {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: 9 },
      });
    }
    sse(res, 'message_stop', { type: 'message_stop' });
    res.end();
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let body = null;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : null;
      } catch {
        body = null;
      }
      requests.push({ method: req.method, path: url.pathname, headers: req.headers, body, at: Date.now() });
      if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: 42 }));
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        answer(res, body).catch((err) => {
          res.writeHead(500);
          res.end(String(err));
        });
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `${req.method} ${url.pathname}` } }));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests,
    /** The conversation requests (with tools), newest last. */
    conversation: () => requests.filter((r) => r.path === '/v1/messages' && Array.isArray(r.body?.tools) && r.body.tools.length > 0),
    /** Streams held open by "stall" answers. */
    get stalled() {
      return open.size;
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
