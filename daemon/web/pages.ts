import { randomBytes } from 'node:crypto';
import { replayPath } from '../../src/values/web-paths.js';

/**
 * The web server's own pages: no CDN, no inline script, a strict Content-Security-Policy. xterm.js
 * adds <style> elements (given this response's nonce by the page script) and style attributes.
 */

export interface Page {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/**
 * Headers every response of berth's own carries (the proxied apps' responses are the apps').
 * `wasm`: the page may compile WebAssembly (the replay page's player; nothing else gets it).
 */
export function securityHeaders(
  nonce?: string,
  formAction = "'none'",
  referrerPolicy = 'no-referrer',
  wasm = false,
): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'self'${wasm ? " 'wasm-unsafe-eval'" : ''}`,
      `style-src-elem 'self'${nonce ? ` 'nonce-${nonce}'` : ''}`,
      "style-src-attr 'unsafe-inline'",
      "connect-src 'self'",
      "img-src 'self' data:",
      "font-src 'self'",
      "base-uri 'none'",
      `form-action ${formAction}`,
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': referrerPolicy,
    'cache-control': 'no-store',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

function page(
  status: number,
  title: string,
  body: string,
  options: {
    scripts?: string[];
    styles?: string[];
    data?: Record<string, string>;
    formAction?: string;
    referrerPolicy?: string;
    wasm?: boolean;
  } = {},
): Page {
  const nonce = randomBytes(16).toString('base64');
  const data = Object.entries(options.data ?? {})
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join('');
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="berth-style-nonce" content="${nonce}">`,
    `<title>${escapeHtml(title)}</title>`,
    '<link rel="stylesheet" href="/assets/page.css">',
    ...(options.styles ?? []).map((s) => `<link rel="stylesheet" href="/assets/${s}">`),
    '</head>',
    `<body${data}>`,
    body,
    ...(options.scripts ?? []).map((s) => `<script src="/assets/${s}"></script>`),
    '</body>',
    '</html>',
    '',
  ].join('\n');
  return {
    status,
    headers: {
      ...securityHeaders(nonce, options.formAction, options.referrerPolicy, options.wasm),
      'content-type': 'text/html; charset=utf-8',
    },
    body: html,
  };
}

const HOW_TO_GET_A_LINK =
  'Ask the berth bot for a new link (<code>/web_terminal</code> for a terminal, <code>/open PORT</code> for a web app), or ask the operator (<code>berth vm web-terminal</code>, <code>berth vm url</code>). A link works once, within 60 seconds.';

/** Where a one-time link lands: its script posts the ticket (from the fragment) and goes on. */
export function landingPage(): Page {
  return page(
    200,
    'berth',
    [
      '<main class="notice">',
      '<h1>berth</h1>',
      '<p id="status">Opening your link…</p>',
      '<p id="switch" hidden><button id="continue" type="button"></button></p>',
      `<p id="hint" hidden>${HOW_TO_GET_A_LINK}</p>`,
      '<noscript><p>This page needs JavaScript.</p></noscript>',
      '</main>',
    ].join('\n'),
    { scripts: ['landing.js'] },
  );
}

/**
 * berth's route into an app's own origin: its script asks (with berth's cookie, same origin) for
 * a ticket bound to that app host, and goes there to spend it.
 */
export function appEntryPage(login: string, vm: string, port: number, origin: string, to: string): Page {
  return entryPage(`port ${port} of ${login}/${vm}`, origin, to);
}

/** The way into a user's deployed app (`/apps/LOGIN/NAME`): the same exchange as a VM port's. */
export function userAppEntryPage(login: string, name: string, origin: string, to: string): Page {
  return entryPage(`the app ${login}/${name}`, origin, to);
}

function entryPage(what: string, origin: string, to: string): Page {
  return page(
    200,
    'berth',
    [
      '<main class="notice">',
      '<h1>berth</h1>',
      `<p id="status">Opening ${escapeHtml(what)}…</p>`,
      `<p id="hint" hidden>${HOW_TO_GET_A_LINK}</p>`,
      '<noscript><p>This page needs JavaScript.</p></noscript>',
      '</main>',
    ].join('\n'),
    // Its form posts the ticket to the app's origin, which takes it only with berth's Origin: so the
    // Origin header must be sent (not null, as no-referrer would make it) and the form may go there.
    { scripts: ['app-entry.js'], data: { origin, to }, formAction: origin, referrerPolicy: 'strict-origin' },
  );
}

/** A path app's address while path apps are off: where the app is now, when it has an origin of its own. */
export function pathAppsOffPage(appUrl: string | null): Page {
  return page(
    404,
    'berth: no web apps here',
    [
      '<main class="notice">',
      '<h1>berth</h1>',
      "<p>Web apps are not served at paths of berth's own address on this host (web.path-apps is off).</p>",
      appUrl
        ? `<p>This app has an address of its own: <a href="${escapeHtml(appUrl)}">${escapeHtml(appUrl)}</a></p>`
        : `<p>${HOW_TO_GET_A_LINK}</p>`,
      '</main>',
    ].join('\n'),
  );
}

/** What a browser without a valid session (or someone else's) gets instead of a terminal or an app. */
export function loginPage(): Page {
  return page(
    401,
    'berth: open a link first',
    ['<main class="notice">', '<h1>berth</h1>', '<p>This page needs a link from berth.</p>', `<p>${HOW_TO_GET_A_LINK}</p>`, '</main>'].join(
      '\n',
    ),
  );
}

/** A short page saying one thing (a refusal, an app that does not answer). */
export function messagePage(status: number, text: string): Page {
  return page(status, 'berth', `<main class="notice"><h1>berth</h1><p>${escapeHtml(text)}</p></main>`);
}

export const notFoundPage = () => messagePage(404, 'There is nothing here.');

/** The terminal of `login/vm`; its script opens the WebSocket. */
export function terminalPage(login: string, vm: string, recorded: string | null = null): Page {
  return page(
    200,
    `${login}/${vm} — berth`,
    [
      `<div id="bar"><span id="title"></span>${recorded ? `<span id="recorded" title="${escapeHtml(recorded)}">● ${escapeHtml(recorded.replace(/^berth: /, ''))}</span>` : ''}<span id="state">connecting…</span></div>`,
      '<div id="terminal"></div>',
      '<noscript><p>The terminal needs JavaScript.</p></noscript>',
    ].join('\n'),
    { scripts: ['xterm.js', 'addon-fit.js', 'terminal.js'], styles: ['xterm.css'], data: { login, vm } },
  );
}

/**
 * A session recording's replay page (`/replay/ID`): asciinema-player, bundled, plays the cast its
 * script fetches from `/replay/ID/cast`. Its terminal emulator is WebAssembly: this page alone may
 * compile it ('wasm-unsafe-eval').
 */
export function replayPage(id: string, about: { login: string; vm: string; startedAt: string; via: string }): Page {
  const title = `${about.vm} — ${about.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${about.via})`;
  return page(
    200,
    `Recording ${id} — berth`,
    [
      `<div id="bar"><span id="title">${escapeHtml(title)}</span><span id="state">loading…</span></div>`,
      '<div id="player"></div>',
      '<noscript><p>The player needs JavaScript.</p></noscript>',
    ].join('\n'),
    {
      scripts: ['asciinema-player.js', 'replay.js'],
      styles: ['asciinema-player.css'],
      data: { recording: id, cast: `${replayPath(id)}/cast` },
      wasm: true,
    },
  );
}
