// berth's terminal page: xterm.js in the browser, a WebSocket to the daemon, a shell in the VM.
// Frames are binary, their first byte the type (see daemon/web/terminal.ts): DATA, RESIZE (cols,
// rows as big-endian u16), PING; the daemon also sends INFO (the key to reattach with) and EXIT.
// A dropped connection reconnects with that key (kept per tab in sessionStorage): the same shell,
// its screen restored by the daemon.
(() => {
  const FRAME = { data: 0, resize: 1, ping: 2, info: 3, exit: 4 };
  const CLOSE = { ended: 4000, replaced: 4001 };
  // The CSP allows only <style> elements with this page's nonce: xterm.js's get it.
  const nonce = document.querySelector('meta[name="berth-style-nonce"]')?.getAttribute('content') ?? '';
  const createElement = document.createElement.bind(document);
  document.createElement = (name, options) => {
    const el = createElement(name, options);
    if (String(name).toLowerCase() === 'style') el.nonce = nonce;
    return el;
  };

  const { login, vm } = document.body.dataset;
  const stateEl = document.getElementById('state');
  document.getElementById('title').textContent = `${login}/${vm}`;
  document.title = `${login}/${vm} — berth`;
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: 15,
    scrollback: 5000,
    theme: { background: '#101418' },
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('terminal'));
  fit.fit();

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const key = `berth-terminal:${login}/${vm}`;
  let socket = null;
  let ended = false;
  let retries = 0;
  let pinger = null;
  let opens = 0;
  let session = '';

  const setState = (text) => {
    stateEl.textContent = text;
  };
  const send = (type, payload = new Uint8Array(0)) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const frame = new Uint8Array(1 + payload.length);
    frame[0] = type;
    frame.set(payload, 1);
    socket.send(frame);
  };
  const sendSize = () => {
    const size = new Uint8Array(4);
    const view = new DataView(size.buffer);
    view.setUint16(0, term.cols);
    view.setUint16(2, term.rows);
    send(FRAME.resize, size);
  };
  const finish = (message) => {
    ended = true;
    sessionStorage.removeItem(key);
    setState(message);
    term.write(`\r\n\x1b[2m[${message}]\x1b[0m\r\n`);
  };

  term.onData((data) => send(FRAME.data, encoder.encode(data)));
  term.onBinary((data) =>
    send(
      FRAME.data,
      Uint8Array.from(data, (c) => c.charCodeAt(0) & 255),
    ),
  );
  term.onResize(() => sendSize());
  window.addEventListener('resize', () => fit.fit());

  const connect = () => {
    const url = new URL(`/terminal/${login}/${vm}/ws`, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('cols', String(term.cols));
    url.searchParams.set('rows', String(term.rows));
    const attach = sessionStorage.getItem(key);
    if (attach) url.searchParams.set('attach', attach);
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    socket = ws;
    ws.onopen = () => {
      opens++;
      retries = 0;
      setState('connected');
      sendSize();
      pinger = setInterval(() => send(FRAME.ping), 20_000);
    };
    ws.onmessage = (event) => {
      const frame = new Uint8Array(event.data);
      const body = frame.subarray(1);
      if (frame[0] === FRAME.data) term.write(body);
      else if (frame[0] === FRAME.info) {
        const info = JSON.parse(decoder.decode(body));
        sessionStorage.setItem(key, info.attach);
        session = info.session;
        if (info.reattached) term.reset();
        setState(info.reattached ? 'connected (reattached)' : 'connected');
      } else if (frame[0] === FRAME.exit) finish(JSON.parse(decoder.decode(body)).message);
    };
    ws.onclose = (event) => {
      clearInterval(pinger);
      if (socket === ws) socket = null;
      if (ended) return;
      if (event.code === CLOSE.replaced) {
        ended = true;
        setState('This terminal was opened in another tab.');
        return;
      }
      if (event.code === CLOSE.ended) {
        finish('The terminal ended.');
        return;
      }
      // Gone: the network, a phone that slept. The page asks whether its session still holds.
      retries++;
      setState('reconnecting…');
      fetch(location.pathname, { method: 'HEAD', cache: 'no-store', credentials: 'same-origin' })
        .then((res) => res.status)
        .catch(() => 0)
        .then((status) => {
          if (status === 401) finish('Your browser session has ended: open a new link from berth.');
          else if (retries > 30) finish('Could not reconnect: reload the page to try again.');
          else setTimeout(connect, Math.min(10_000, 250 * 2 ** Math.min(retries, 6)));
        });
    };
  };
  connect();
  term.focus();
  // For people (and tests) at the browser console.
  window.berth = { terminal: term, socket: () => socket, opens: () => opens, session: () => session };
})();
