import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebLinkSchema } from '../../src/views/web-view.js';
import { berth, berthJson, freePort, ROOT } from '../helpers/cli.js';
import { daemonLog, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, unique, type VmHome, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';
import { DEBIAN_IMAGE, debianImage } from '../helpers/images.js';
import { sshClientOptions } from '../helpers/ssh.js';
import { connected, openLink, shows, typeLine } from '../helpers/web-terminal-page.js';

// Every hostile input a user can send berth's daemon — on an SSH connection or channel, as a web
// request or upgrade, as a bot update, as the output of the agent in their own VM — against one
// daemon running as its own process (berth daemon start). After each, the daemon's pid is the
// same and another user's open SSH shell and web terminal still echo: one connection's input
// ends at most that connection.

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;

const ALICE_TG = { id: 6101, username: 'alice_s' };
const BOB_TG = { id: 6102, username: 'bob_s' };
/** The hostile VM's image: the Debian VM image with a "claude" that prints hostile output. */
const HOSTILE_AGENT_IMAGE = DEBIAN_IMAGE.replace('berth-vm-ssh-test:', 'berth-vm-hostile-agent-test:');

let h: VmHome;
let fake: Fake;
let browser: Browser;
let aliceBrowser: BrowserContext;
let aliceTerminal: Page;
let aliceShell: ChildProcess;
let shellOut = '';
let alice = '';
let bob = '';
let keys = '';
let sshPort = 0;
let webPort = 0;
let publicUrl = '';
let pid = 0;
let round = 0;

const run = (args: string[], input?: string) => berth(h.home, args, input === undefined ? {} : { input });
async function must(args: string[], input?: string) {
  const r = await run(args, input);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
  return r;
}
const key = (login: string) => join(keys, login);

async function daemonPid(): Promise<number> {
  const status = JSON.parse((await must(['daemon', 'status', '--json'])).stdout) as { pid: number };
  return status.pid;
}

/**
 * The daemon is the same process, and alice's SSH shell and web terminal, opened before any of
 * this, both still run commands and show their output; her bot still answers.
 */
async function aliceUnharmed(): Promise<void> {
  round++;
  expect(await daemonPid()).toBe(pid);
  const viaSsh = String(100_000 + round);
  aliceShell.stdin?.write(`echo $((100000+${round}))\n`);
  await waitFor(`alice's SSH shell to echo ${viaSsh}`, async () => shellOut.includes(viaSsh), 20_000);
  const viaWeb = String(200_000 + round);
  await typeLine(aliceTerminal, `echo $((200000+${round}))`);
  await shows(aliceTerminal, new RegExp(`^${viaWeb}$`, 'm'));
  const after = fake.sent.length;
  fake.sendText(ALICE_TG, '/status');
  await fake.waitFor((s) => s.chatId === ALICE_TG.id, { after, timeoutMs: 30_000 });
}

/**
 * Bytes sent raw to one of the daemon's listeners from `from`; what came back before it closed
 * (or 5 s passed). `answer`: the connection is kept open (no half-close, which a proxy may take
 * as the client leaving) and it is done 300 ms after the first bytes of an answer.
 */
function raw(port: number, bytes: string | Buffer, from = '127.0.0.31', answer = false): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = netConnect({ host: '127.0.0.1', port, localAddress: from });
    let settle: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(settle);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, 5000);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (answer) settle ??= setTimeout(done, 300);
    });
    s.on('error', done);
    s.on('close', done);
    s.once('connect', () => (answer ? s.write(bytes) : s.end(bytes)));
  });
}

/** Bob's cookie on berth's origin, from a one-time link spent as a browser would (POST /t). */
async function bobCookie(): Promise<string> {
  const link = WebLinkSchema.parse(await berthJson(h.home, ['vm', 'web-terminal', bob]));
  const ticket = link.url.slice(link.url.indexOf('#') + 1);
  const res = await fetch(`${publicUrl}/t`, {
    method: 'POST',
    headers: { origin: publicUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ ticket }),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** An SSH connection as bob through ssh2 (so that it can send what OpenSSH never would). */
function bobSsh(algorithms?: ssh2.Algorithms): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c));
    c.on('error', reject);
    c.connect({
      host: '127.0.0.1',
      port: sshPort,
      localAddress: '127.0.0.32',
      username: bob,
      privateKey: keyText,
      readyTimeout: 20_000,
      ...(algorithms ? { algorithms } : {}),
    });
  });
}
let keyText = '';

/** Runs `attempt` with a deadline; whatever it throws is the attack failing, which is fine. */
async function tryHostile(what: string, attempt: () => Promise<unknown>, ms = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    attempt().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
  void what;
}

async function hostileAgentImage(): Promise<void> {
  const present = await docker
    .getImage(HOSTILE_AGENT_IMAGE)
    .inspect()
    .catch(() => null);
  if (present) return;
  const dir = await mkdtemp(join(tmpdir(), 'berth-hostile-agent-'));
  try {
    await copyFile(join(ROOT, 'test', 'fixtures', 'hostile-claude.sh'), join(dir, 'claude'));
    await chmod(join(dir, 'claude'), 0o755);
    await writeFile(join(dir, 'Dockerfile'), `FROM ${DEBIAN_IMAGE}\nLABEL dev.berth.agents=claude\nCOPY claude /usr/local/bin/claude\n`);
    await execa('docker', ['build', '-q', '-t', HOSTILE_AGENT_IMAGE, dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  h = await vmHome();
  keys = await mkdtemp(join(tmpdir(), 'berth-survive-keys-'));
  await debianImage(h.home);
  await hostileAgentImage();
  fake = await startFakeBotApi();
  sshPort = await freePort();
  webPort = await freePort();
  publicUrl = `http://127.0.0.1:${webPort}`;
  alice = unique('sa');
  bob = unique('sb');
  for (const login of [alice, bob]) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', login, '-f', key(login)]);
  keyText = await execa('cat', [key(bob)]).then((r) => r.stdout);
  for (const args of [
    ['config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`],
    ['config', 'set', 'web.listen', `127.0.0.1:${webPort}`],
    ['config', 'set', 'web.public-url', publicUrl],
    // Path apps: bob's app answers reach the proxy with nothing but his cookie (the answers' checks are the same on app hosts).
    ['config', 'set', 'web.path-apps', 'on'],
    // An app whose answer never comes is given up on well within raw()'s 5 s.
    ['config', 'set', 'web.app-timeout', '2s'],
    ['config', 'set', 'telegram.api-root', fake.apiRoot],
    ['config', 'set', 'telegram.rate-limit', '1000'],
    ['config', 'set', 'agent.timeout', '60s'],
    ['plan', 'add', 'coder', '--agent', 'full'],
    ['user', 'allow', alice, '--telegram-id', String(ALICE_TG.id), '--plan', 'coder'],
    ['user', 'allow', bob, '--telegram-id', String(BOB_TG.id), '--plan', 'coder'],
    ['user', 'key', 'add', alice, '--file', `${key(alice)}.pub`],
    ['user', 'key', 'add', bob, '--file', `${key(bob)}.pub`],
  ]) {
    await must(args);
  }
  await must(['vm', 'create', alice, '--image', DEBIAN_IMAGE]);
  await must(['vm', 'create', bob, '--image', HOSTILE_AGENT_IMAGE]);
  for (const login of [alice, bob]) {
    await waitFor(
      `${login}'s VM to be ready`,
      async () => (await run(['vm', 'exec', login, '--', 'test', '-f', '/run/berth-ready'])).code === 0,
      60_000,
    );
  }
  // Bob's app: a broken HTTP answer on each port (test/fixtures/hostile-app.py).
  await must(
    ['vm', 'exec', '-i', bob, '--', 'sh', '-c', 'cat > hostile.py'],
    await readFile(join(ROOT, 'test', 'fixtures', 'hostile-app.py'), 'utf8'),
  );
  await must(['vm', 'exec', bob, '--', 'sh', '-c', 'setsid python3 hostile.py "$HOME" >hostile.log 2>&1 < /dev/null &']);
  await waitFor(
    "bob's hostile app to listen",
    async () => (await run(['vm', 'exec', bob, '--', 'sh', '-c', "grep -q ':1FA5 .* 0A' /proc/net/tcp"])).code === 0,
    30_000,
  );
  await must(['telegram', 'setup'], `${fake.token}\n`);
  await must(['daemon', 'start']);
  await waitFor('the bot to poll', async () => fake.calls.some((c) => c.method === 'getUpdates'));
  pid = await daemonPid();

  // Alice's sessions, open through everything that follows.
  aliceShell = spawn('ssh', [...sshClientOptions(sshPort, key(alice), ['-tt']), `${alice}@127.0.0.1`], { stdio: ['pipe', 'pipe', 'pipe'] });
  aliceShell.stdout?.on('data', (c: Buffer) => {
    shellOut += c.toString('utf8');
    if (shellOut.length > 1_000_000) shellOut = shellOut.slice(-100_000);
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  aliceBrowser = await browser.newContext();
  const link = WebLinkSchema.parse(await berthJson(h.home, ['vm', 'web-terminal', alice]));
  aliceTerminal = await openLink(aliceBrowser, link.url, /\/terminal\//);
  await connected(aliceTerminal);
  await aliceUnharmed();
}, 900_000);

afterAll(async () => {
  aliceShell?.kill();
  await browser?.close();
  await stopDaemonQuietly(h.home);
  if (process.env.BERTH_TEST_SHOW_LOG) process.stderr.write(await daemonLog(h.home));
  await fake?.close();
  await rm(keys, { recursive: true, force: true });
  await h.cleanup();
});

describe('one hostile user’s input ends at most their own connection', () => {
  it('web requests and upgrades: garbage, huge and malformed heads, odd bodies, forged upgrades', async () => {
    const cookie = await bobCookie();
    const origin = `Origin: ${publicUrl}\r\n`;
    const post = (body: string, type = 'application/json') =>
      `POST /t HTTP/1.1\r\nHost: 127.0.0.1\r\n${origin}Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const upgrade = (path: string, extra = '') =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${origin}Cookie: ${cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
    const inputs: Array<string | Buffer> = [
      randomBytes(4096),
      Buffer.from('16030100c8010000c40303', 'hex'), // a TLS ClientHello's start on plain HTTP
      'GET / HTTP/1.1\r\nHost: \u0001\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: [::\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: 8001--main--nobody.localhost:99999\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${Array.from({ length: 3000 }, (_, i) => `c${i}=v`).join('; ')}\r\n\r\n`,
      'GET /vm/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET /vm/${bob}/main/0/ HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`,
      `GET /vm/${bob}/main/99999/ HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`,
      `GET /terminal/${alice}/main HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`,
      post('null'),
      post('[]'),
      post('"ticket"'),
      post('{"ticket":{"a":1}}'),
      post('{"ticket":["a"]}'),
      post(`{"ticket":"${'A'.repeat(43)}"}`),
      post('{'),
      post('['.repeat(10_000)),
      post('ticket=x', 'application/x-www-form-urlencoded'),
      post('x'.repeat(100_000)),
      'POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      upgrade(`/terminal/${alice}/main/ws`, 'Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n'),
      upgrade(`/terminal/${bob}/main/ws`, 'Sec-WebSocket-Version: 99\r\n'),
      upgrade(
        `/terminal/${bob}/main/ws?attach=${'z'.repeat(5000)}&cols=-1&rows=1e99`,
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
      ),
      upgrade(`/vm/${bob}/main/8001/`, ''),
      upgrade('/nowhere', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'),
    ];
    for (const input of inputs) await raw(webPort, input);
    // A real terminal of bob's: output that makes the server-side screen's parser allocate per a
    // count the VM chose (REP, CSI n b, after a character with many combining marks), a flood of
    // resizes, frames no page sends, then the connection dropped mid-frame.
    const { default: WebSocket } = await import('ws');
    const sock = new WebSocket(`ws://127.0.0.1:${webPort}/terminal/${bob}/main/ws?cols=80&rows=24`, {
      headers: { origin: publicUrl, cookie },
    });
    sock.on('error', () => undefined);
    let shown = '';
    sock.on('message', (data: Buffer) => {
      if (data[0] === 0) shown = (shown + data.subarray(1).toString('latin1')).slice(-100_000);
    });
    await new Promise((resolve, reject) => {
      sock.once('open', resolve);
      sock.once('unexpected-response', (_req, res) => reject(new Error(`bob's terminal refused: ${res.statusCode}`)));
    });
    const typed = (line: string) => Buffer.concat([Buffer.from([0]), Buffer.from(line)]);
    sock.send(typed('echo $((300000+1))\n'));
    await waitFor("bob's shell to answer", async () => shown.includes('300001'), 20_000);
    sock.send(typed(`printf 'e${'\\314\\201'.repeat(8)}\\033[999999999b X\\033[2147483647b'; echo $((300000+2))\n`));
    await waitFor("bob's REP to be printed", async () => shown.includes('300002'), 20_000);
    // The same after a wide character (xterm repeats the cell two columns back) with 1000 marks.
    sock.send(
      typed(
        `printf '\\344\\270\\200'; yes "$(printf '\\314\\201')" | head -n 1000 | tr -d '\\n'; printf '\\033[60000b'; echo $((300000+4))\n`,
      ),
    );
    await waitFor("bob's wide REP to be printed", async () => shown.includes('300004'), 20_000);
    for (let i = 0; i < 2000; i++) {
      const frame = Buffer.alloc(5);
      frame[0] = 1;
      frame.writeUInt16BE(i % 2 ? 500 : 2, 1);
      frame.writeUInt16BE(i % 2 ? 200 : 1, 3);
      sock.send(frame);
    }
    sock.send(typed('yes | head -c 3000000; echo $((300000+3))\n'));
    await waitFor("bob's output to end", async () => shown.includes('300003'), 30_000);
    for (const frame of ['', '{', 'null', '{"type":"resize","cols":-5,"rows":1e9}', '\u0000'.repeat(60_000)]) {
      sock.send(frame);
      sock.send(Buffer.from(frame));
    }
    (sock as unknown as { _socket: { write(b: Buffer): void; destroy(): void } })._socket.write(Buffer.from([0x82, 0x7f, 0xff]));
    (sock as unknown as { _socket: { destroy(): void } })._socket.destroy();
    await aliceUnharmed();
  });

  it('web app answers: control bytes, huge and endless heads, 1xx floods, early closes, a refused upgrade then a pipelined request', async () => {
    const cookie = await bobCookie();
    const get = (port: number, extra = '') =>
      `GET /vm/${bob}/main/${port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nOrigin: ${publicUrl}\r\n${extra}\r\n`;
    const answers: string[] = [];
    for (const port of [8101, 8102, 8103, 8104, 8106, 8107, 8108, 8109, 8110]) {
      answers.push(await raw(webPort, get(port), '127.0.0.31', true));
      answers.push(
        await raw(
          webPort,
          get(
            port,
            'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
          ),
          '127.0.0.31',
          true,
        ),
      );
    }
    // The app answers 200 to the upgrade; the request sent after it must never reach the app.
    const upgrade = get(
      8105,
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
    );
    answers.push(await raw(webPort, `${upgrade}GET /smuggled HTTP/1.1\r\nHost: x\r\nCookie: stolen=1\r\n\r\n`, '127.0.0.31', true));
    // Every one got an answer of its own (the daemon did not drop the connection unanswered).
    const unanswered = answers.map((a, i) => [i, a.slice(0, 60)]).filter(([, a]) => !/^HTTP\/1\.1 \d{3} /.test(String(a)));
    expect(unanswered).toEqual([]);
    const seen = await run(['vm', 'exec', bob, '--', 'cat', '8105.log']);
    expect(seen.stdout).not.toContain('/smuggled');
    // Requests whose browser leaves while berth still checks them (before their slot is taken):
    // more than web.max-app-requests of them leave no slot held, so bob's apps still answer.
    for (let i = 0; i < 300; i++) {
      const s = netConnect({ host: '127.0.0.1', port: webPort, localAddress: '127.0.0.34' });
      s.on('error', () => undefined);
      s.once('connect', () => {
        s.write(get(8105));
        setImmediate(() => s.destroy());
      });
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 100));
    }
    const after = await raw(webPort, get(8105), '127.0.0.31', true);
    expect(after).toMatch(/^HTTP\/1\.1 200 /);
    await aliceUnharmed();
  });

  it('web: one address holding hundreds of slow requests gets no more than its share of connections', async () => {
    // A whole head at once (so the door's first-request count lets each in), then a body that never comes.
    const head = `POST /t HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${publicUrl}\r\nContent-Type: application/json\r\nContent-Length: 16000\r\n\r\n{`;
    const held: ReturnType<typeof netConnect>[] = [];
    let closed = 0;
    try {
      for (let batch = 0; batch < 15; batch++) {
        for (let i = 0; i < 20; i++) {
          const s = netConnect({ host: '127.0.0.1', port: webPort, localAddress: '127.0.0.35' });
          s.on('error', () => undefined);
          s.once('connect', () => s.write(head));
          s.once('close', () => closed++);
          held.push(s);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      // Past the share (256 open at once), each new one is closed at once; the first 256 wait on.
      await waitFor('the connections past the share to be closed', async () => closed >= held.length - 256, 10_000);
      expect(closed).toBeLessThanOrEqual(held.length - 256 + 5);
      // Another address is served (berth's sign-in page).
      const other = await raw(webPort, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '127.0.0.36', true);
      expect(other).toMatch(/^HTTP\/1\.1 \d{3} [\s\S]*<title>berth/);
    } finally {
      for (const s of held) s.destroy();
    }
    await aliceUnharmed();
  });

  it('SSH: garbage before and after the handshake, and channel requests OpenSSH never sends', async () => {
    await raw(sshPort, randomBytes(8192), '127.0.0.33');
    await raw(sshPort, Buffer.concat([Buffer.from('SSH-2.0-hostile\r\n'), randomBytes(65_536)]), '127.0.0.33');
    await raw(sshPort, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', '127.0.0.33');
    await raw(sshPort, `SSH-2.0-${'v'.repeat(100_000)}\r\n`, '127.0.0.33');
    const c = await bobSsh();
    try {
      const attempts: Array<[string, () => Promise<unknown>]> = [
        [
          'a shell with an absurd pty, then signals and window changes',
          () =>
            new Promise((resolve, reject) => {
              c.shell(
                { rows: 2 ** 31, cols: 2 ** 31, width: 0, height: 0, term: 'x'.repeat(5000), modes: { ECHO: 2 ** 31 } },
                (err, ch) => {
                  if (err) return reject(err);
                  ch.on('error', () => undefined);
                  ch.setWindow(0, 0, 2 ** 31, 2 ** 31);
                  ch.signal('KILL');
                  ch.signal('NOT-A-SIGNAL');
                  ch.write(randomBytes(70_000));
                  ch.end();
                  ch.on('close', resolve);
                },
              );
            }),
        ],
        [
          'exec with NULs and a huge command, and env no client may set',
          () =>
            new Promise((resolve, reject) => {
              c.exec(
                `echo \u0000\u001b]0;x\u0007${'y'.repeat(30_000)}`,
                { env: { 'A\u0000B': 'x', LD_PRELOAD: '/tmp/x.so', BASH_ENV: '/tmp/x' }, pty: { rows: -1 as unknown as number } },
                (err, ch) => {
                  if (err) return reject(err);
                  ch.on('error', () => undefined);
                  ch.resume();
                  ch.stderr.resume();
                  ch.on('close', resolve);
                },
              );
            }),
        ],
        [
          'a subsystem that does not exist',
          () =>
            new Promise((resolve, reject) =>
              c.subsys('no-such-subsystem', (err, ch) => {
                if (err) return reject(err);
                ch.on('close', resolve);
                ch.end();
              }),
            ),
        ],
        [
          'direct-tcpip to nonsense hosts and ports',
          () =>
            Promise.all(
              (
                [
                  ['../../etc/passwd', 22],
                  ['127.0.0.1', 0],
                  [alice, 22],
                  ['169.254.169.254', 80],
                  ['\u0000', 65535],
                ] as Array<[string, number]>
              ).map(
                ([host, port]) =>
                  new Promise((resolve) =>
                    c.forwardOut('127.0.0.1', 1, host, port, (err, ch) => {
                      if (err) return resolve(err);
                      ch.on('error', () => undefined);
                      ch.end();
                      resolve(null);
                    }),
                  ),
              ),
            ),
        ],
        [
          'a forward to the engine’s socket and a remote socket forward',
          () =>
            Promise.all([
              new Promise((resolve) =>
                c.openssh_forwardOutStreamLocal('/var/run/docker.sock', (err, ch) => {
                  if (err) return resolve(err);
                  ch.end();
                  resolve(null);
                }),
              ),
              new Promise((resolve) => c.openssh_forwardInStreamLocal('/run/x.sock', (err) => resolve(err))),
              new Promise((resolve) => c.forwardIn('::not-an-address', 22, (err) => resolve(err))),
              new Promise((resolve) => c.forwardIn('0.0.0.0', 0, (err) => resolve(err))),
            ]),
        ],
        [
          'X11 and agent requests with garbage',
          () =>
            new Promise((resolve, reject) =>
              c.shell(
                { term: 'xterm' },
                { x11: { single: false, protocol: '\u0000'.repeat(300), cookie: 'zz', screen: 2 ** 31 } },
                (err, ch) => {
                  if (err) return reject(err);
                  ch.on('error', () => undefined);
                  ch.end();
                  ch.on('close', resolve);
                },
              ),
            ),
        ],
      ];
      for (const [what, attempt] of attempts) await tryHostile(what, attempt);
    } finally {
      c.end();
    }
    // A channel whose maximum packet size is 0, then output on it.
    await tryHostile('a session with maximum packet size 0', async () => {
      const z = await bobSsh();
      const proto = (z as unknown as { _protocol: { session(chan: number, window: number, packet: number): void } })._protocol;
      const session = proto.session.bind(proto);
      proto.session = (chan, window) => session(chan, window, 0);
      await new Promise((resolve) =>
        z.exec('yes | head -c 100000', (err, ch) => {
          if (err) return resolve(err);
          ch.on('error', () => undefined);
          ch.resume();
          ch.on('close', resolve);
        }),
      );
      z.end();
    });
    // Compression asked for, output flowing, then the client's side of TCP half-closed, never read again.
    await tryHostile('compression, then a half-close under output', async () => {
      const z = await bobSsh({ compress: ['zlib@openssh.com', 'zlib', 'none'] });
      await new Promise((resolve) =>
        z.exec('yes', (err, ch) => {
          if (err) return resolve(err);
          ch.on('error', () => undefined);
          ch.once('data', () => {
            ch.pause();
            (z as unknown as { _sock: { end(): void } })._sock.end();
            setTimeout(resolve, 3000);
          });
        }),
      );
      z.destroy();
    });
    await aliceUnharmed();
  });

  it('bot updates of every odd shape: no sender, wrong types, huge and out-of-range fields, unknown kinds', async () => {
    const now = Math.floor(Date.now() / 1000);
    const chat = { id: BOB_TG.id, type: 'private' };
    const from = { id: BOB_TG.id, is_bot: false, first_name: '\u202eboB\u0000\u001b[2J' };
    const updates: Array<Record<string, unknown>> = [
      { message: { message_id: 1, date: now, chat: { id: -1001, type: 'channel' }, text: '/start' } },
      { channel_post: { message_id: 2, date: now, chat: { id: -1001, type: 'channel' }, text: '/create' } },
      { message: { message_id: 3, date: now, chat, from, text: '/exec id', entities: [{ type: 'bot_command', offset: 1000, length: 5 }] } },
      { message: { message_id: 4, date: now, chat, from, text: `/exec ${'x'.repeat(200_000)}` } },
      { message: { message_id: 5, date: now, chat, from, text: 123 } },
      { message: { message_id: 6, date: now, chat, from: { ...from, id: 2 ** 53 + 2 }, text: '/start' } },
      { edited_message: { message_id: 7, date: now, chat, from, text: '/destroy', edit_date: now } },
      {
        message: {
          message_id: 8,
          date: now,
          chat,
          from,
          document: { file_id: 'nope', file_unique_id: 'nope', file_name: '../../../etc/passwd', file_size: 2 ** 53 },
          caption: '/upload ../../..',
          caption_entities: [{ type: 'bot_command', offset: 0, length: 7 }],
        },
      },
      { callback_query: { id: 'cb1', from, chat_instance: 'x' } },
      {
        callback_query: {
          id: 'cb2',
          from,
          chat_instance: 'x',
          data: `vm:stop:../../${alice}`,
          message: { message_id: 1, date: now, chat },
        },
      },
      { callback_query: { id: 'cb3', from, chat_instance: 'x', data: '\u0000'.repeat(64), message: { message_id: 1, date: now, chat } } },
      { inline_query: { id: 'iq', from, query: '/exec id', offset: '' } },
      { my_chat_member: { chat, from, date: now, old_chat_member: null, new_chat_member: { status: 'kicked' } } },
      { poll: { id: 'p', question: '?', options: [] } },
      { message: null },
      {},
    ];
    const first = fake.sent.length;
    for (const u of updates) fake.pushUpdate(u);
    // The bot has read all of them (its offset is past the last) before alice is checked.
    const last = fake.lastUpdateId;
    await waitFor('the bot to take every hostile update', async () => fake.confirmedOffset > last, 30_000);
    void first;
    await aliceUnharmed();
  });

  it('the agent in bob’s own VM printing anything at all: his run ends, nobody else’s', async () => {
    const setKey = fake.sent.length;
    fake.sendText(BOB_TG, `/setkey anthropic sk-ant-test-${randomBytes(8).toString('hex')}`);
    await fake.waitFor((s) => s.chatId === BOB_TG.id && /key/i.test(s.text), { after: setKey, timeoutMs: 30_000 });
    const after = fake.sent.length;
    fake.sendText(BOB_TG, 'hello agent');
    // The run ends (the process exits 137 after its output) and bob is told, whatever it printed.
    await fake.waitFor((s) => s.chatId === BOB_TG.id && /137|ended|failed|exit/i.test(String(s.text)), { after, timeoutMs: 90_000 });
    await aliceUnharmed();
  });

  it('the daemon log records none of it as fatal', async () => {
    const log = await daemonLog(h.home);
    expect(log).not.toMatch(/uncaught exception/);
    expect(await daemonPid()).toBe(pid);
  });
});
