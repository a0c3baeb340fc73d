import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthJson, freePort, stateText } from '../helpers/cli.js';
import { daemonLog, state, stopDaemonQuietly, waitFor } from '../helpers/daemon.js';
import { docker, findVmContainer, type VmHome, vmContainer, vmHome } from '../helpers/docker.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;
type Sent = Fake['sent'][number];

const ADMIN = { id: 1001, username: 'the_admin' };
const ALICE = { id: 2001, username: 'Alice_Dev' };
const BOB = { id: 3001, username: 'bob' };
const CAROL = { id: 4001, username: 'carol' };
const ALICE_LOGIN = 'alicedev';

let h: VmHome;
let fake: Fake;
const run = (args: string[], input?: string) => berth(h.home, args, { input });

/** Sends a text as `user` and waits for the bot's next message to them. */
async function ask(user: { id: number }, text: string, match: (s: Sent) => boolean = () => true, timeoutMs = 30_000): Promise<Sent> {
  const after = fake.sent.length;
  fake.sendText(user, text);
  return fake.waitFor((s) => s.chatId === user.id && match(s), { after, timeoutMs });
}

const allText = (user: { id: number }, after = 0) =>
  fake.sent
    .slice(after)
    .filter((s) => s.chatId === user.id)
    .map((s) => s.text)
    .join('\n---\n');

let sshPort = 0;
let webUrl = '';

beforeAll(async () => {
  h = await vmHome();
  fake = await startFakeBotApi({ blocked: new Set([CAROL.id]) });
  sshPort = await freePort();
  webUrl = `http://127.0.0.1:${await freePort()}`;
  for (const args of [
    ['config', 'set', 'ssh.listen', `127.0.0.1:${sshPort}`],
    ['config', 'set', 'web.listen', webUrl.slice('http://'.length)],
    // /open's links to apps at paths of berth's origin (an opt-in); with web.apps-domain, below.
    ['config', 'set', 'web.path-apps', 'on'],
    ['config', 'set', 'telegram.admins', String(ADMIN.id)],
    ['config', 'set', 'telegram.api-root', fake.apiRoot],
    // The story sends many commands a minute; the limit itself has its own test.
    ['config', 'set', 'telegram.rate-limit', '1000'],
    ['user', 'allow', 'bob', '--telegram-id', String(BOB.id)],
    ['user', 'allow', 'carol', '--telegram-id', String(CAROL.id)],
  ]) {
    const r = await run(args);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const setup = await run(['telegram', 'setup'], `${fake.token}\n`);
  if (setup.code !== 0) throw new Error(setup.stderr);
  await berthJson(h.home, ['vm', 'create', 'bob']);
  const start = await run(['daemon', 'start']);
  if (start.code !== 0) throw new Error(start.stderr);
  await waitFor('the bot to poll', async () => fake.calls.some((c) => c.method === 'getUpdates'));
});

afterAll(async () => {
  await stopDaemonQuietly(h.home);
  if (process.env.BERTH_TEST_SHOW_LOG) process.stderr.write(await daemonLog(h.home));
  await fake.close();
  await h.cleanup();
});

describe('the Telegram bot, end to end through a fake Bot API server', () => {
  it('runs in the daemon and publishes command menus (longer for admins)', async () => {
    const status = JSON.parse((await run(['daemon', 'status', '--json'])).stdout);
    const telegram = status.components.find((c: { name: string }) => c.name === 'telegram');
    expect(telegram.state).toBe('running');
    expect(telegram.detail).toContain('@berth_test_bot');
    const menus = fake.calls.filter((c) => c.method === 'setMyCommands');
    const userMenu = menus.find((c) => !c.params.scope);
    const adminMenu = menus.find((c) => c.params.scope?.chat_id === ADMIN.id);
    expect(userMenu?.params.commands.map((c: { command: string }) => c.command)).toContain('exec');
    expect(userMenu?.params.commands.map((c: { command: string }) => c.command)).not.toContain('broadcast');
    expect(adminMenu?.params.commands.map((c: { command: string }) => c.command)).toContain('broadcast');
  });

  it('turns a stranger’s /start into a pending user, asks the admins, and tells the user when approved', async () => {
    const reply = await ask(ALICE, '/start');
    expect(reply.text).toMatch(/request for access was sent/);
    const user = (await state(h.home)).users.find((u: { telegramId?: number }) => u.telegramId === ALICE.id);
    expect(user).toMatchObject({ login: ALICE_LOGIN, status: 'pending' });

    const pendingTry = await ask(ALICE, '/status');
    expect(pendingTry.text).toMatch(/waiting for an admin/);

    const request = await fake.waitFor((s) => s.chatId === ADMIN.id && /Access request/.test(s.text));
    // The buttons name the requester by berth user id (a login can be reused, an id never).
    const buttons = request.replyMarkup.inline_keyboard.flat().map((b: { callback_data: string }) => b.callback_data);
    expect(buttons).toContain(`ap:${user.id}:basic`);
    expect(buttons).toContain(`rj:${user.id}`);
    const after = fake.sent.length;
    fake.pressButton(ADMIN, request.messageId, `ap:${user.id}:basic`);
    await fake.waitFor((s) => s.chatId === ADMIN.id && s.method === 'editMessageText' && /approved on plan basic/.test(s.text), { after });
    await fake.waitFor((s) => s.chatId === ALICE.id && /access was approved/.test(s.text), { after });
    expect((await state(h.home)).users.find((u: { login: string }) => u.login === ALICE_LOGIN).status).toBe('allowed');
  });

  it('gives a new admin the admin command menu, and takes it away again', async () => {
    const calls = fake.calls.length;
    expect((await run(['user', 'set', ALICE_LOGIN, '--role', 'admin'])).code).toBe(0);
    await waitFor('the admin menu in alice’s chat', async () =>
      fake.calls.slice(calls).some((c) => c.method === 'setMyCommands' && c.params.scope?.chat_id === ALICE.id),
    );
    expect((await run(['user', 'set', ALICE_LOGIN, '--role', 'user'])).code).toBe(0);
    await waitFor('the admin menu removed from alice’s chat', async () =>
      fake.calls.slice(calls).some((c) => c.method === 'deleteMyCommands' && c.params.scope?.chat_id === ALICE.id),
    );
  });

  it('/help shows users only their commands', async () => {
    const help = await ask(ALICE, '/help');
    expect(help.text).toContain('/exec');
    expect(help.text).not.toContain('/broadcast');
    const adminHelp = await ask(ADMIN, '/help');
    expect(adminHelp.text).toContain('/broadcast');
  });

  it('/create makes the VM (at once: her plan is her only choice), /status shows it with the SSH line', async () => {
    const after = fake.sent.length;
    fake.sendText(ALICE, '/create');
    await fake.waitFor((s) => s.chatId === ALICE.id && /Your VM main is running/.test(s.text), { after, timeoutMs: 60_000 });
    const inspect = await docker.getContainer(await vmContainer(ALICE_LOGIN)).inspect();
    expect(inspect.State.Running).toBe(true);

    const status = await ask(ALICE, '/status');
    expect(status.text).toMatch(/<b>main<\/b> — 🟢 running/);
    expect(status.text).toContain('Plan: basic');
    // The basic plan's home quota is config disk's default, 10g.
    expect(status.text).toMatch(/Disk: home \S+ of 10g · 10g outside it/);
    expect(status.text).toMatch(new RegExp(`ssh -p ${sshPort} ${ALICE_LOGIN}@`));
  });

  it('/status and /ssh give no ssh line while ssh.enabled is off', async () => {
    expect((await run(['config', 'set', 'ssh.enabled', 'off'])).code).toBe(0);
    try {
      const status = await ask(ALICE, '/status');
      expect(status.text).toMatch(/<b>main<\/b>/);
      expect(status.text).not.toContain('ssh -p');
      expect((await ask(ALICE, '/ssh')).text).toContain('SSH logins are turned off');
    } finally {
      await run(['config', 'unset', 'ssh.enabled']);
    }
    expect((await ask(ALICE, '/status')).text).toContain('ssh -p');
  });

  it('/web_terminal (/terminal) and /open PORT give one-time links without a preview; /status lists the listening ports', async () => {
    // Two servers in her VM: one the web URL can reach, one on its loopback only.
    const serve =
      'setsid httpd -f -p 0.0.0.0:8000 -h /tmp </dev/null >/dev/null 2>&1 & setsid httpd -f -p 127.0.0.1:3000 -h /tmp </dev/null >/dev/null 2>&1 &';
    expect((await run(['vm', 'exec', ALICE_LOGIN, '--', 'sh', '-c', serve])).code).toBe(0);
    const status = await waitFor('both ports in /status', async () => {
      const s = await ask(ALICE, '/status');
      return /8000/.test(s.text) && /3000/.test(s.text) ? s : null;
    });
    expect(status.text).toContain('8000 → <code>/open 8000</code>');
    expect(status.text).toContain('3000 (on 127.0.0.1 only');

    const spend = (ticket: string) =>
      fetch(`${webUrl}/t`, {
        method: 'POST',
        headers: { origin: webUrl, 'content-type': 'application/json' },
        body: JSON.stringify({ ticket }),
      });
    const ticketIn = (text: string) => {
      const m = new RegExp(`href="${webUrl.replaceAll('.', '\\.')}/t#([A-Za-z0-9_-]{43})"`).exec(text);
      expect(m, text).not.toBeNull();
      return m?.[1] ?? '';
    };
    const terminal = await ask(ALICE, '/web_terminal');
    expect(terminal.text).toContain('Open the terminal of main');
    const ticket = ticketIn(terminal.text);
    const sent = fake.calls.find((c) => c.method === 'sendMessage' && String(c.params.text).includes(ticket));
    expect(sent?.params.link_preview_options).toMatchObject({ is_disabled: true });
    const first = await spend(ticket);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ location: `/terminal/${ALICE_LOGIN}/main` });
    expect(first.headers.get('set-cookie')).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    expect((await spend(ticket)).status).toBe(410);
    expect((await ask(ALICE, '/terminal')).text).toContain('Open the terminal of main');

    const app = await ask(ALICE, '/open 8000');
    expect(app.text).toContain('Open port 8000 of main');
    expect(await (await spend(ticketIn(app.text))).json()).toEqual({ location: `/vm/${ALICE_LOGIN}/main/8000/` });
    const root = await ask(ALICE, '/open 8000 strip');
    expect(await (await spend(ticketIn(root.text))).json()).toEqual({ location: `/app/${ALICE_LOGIN}/main/8000/` });
    expect((await ask(ALICE, '/open eighty')).text).toContain('is not a port');
    expect((await ask(ALICE, '/open')).text).toContain('Give the port');
    expect((await ask(ALICE, '/open 8000 other')).text).toContain(`There is no VM ${ALICE_LOGIN}/other`);
    expect(await daemonLog(h.home)).not.toContain(ticket);

    // With web.apps-domain, the app has an origin of its own: /open and /status give its address,
    // and the link lands on berth's way into it.
    expect((await run(['config', 'set', 'web.apps-domain', 'localhost'])).code).toBe(0);
    try {
      const own = `http://8000--main--${ALICE_LOGIN}.localhost:${new URL(webUrl).port}/`;
      const opened = await ask(ALICE, '/open 8000');
      expect(opened.text).toContain(`The app's own address: ${own}`);
      expect(await (await spend(ticketIn(opened.text))).json()).toEqual({ location: `/apps/${ALICE_LOGIN}/main/8000` });
      expect((await ask(ALICE, '/status')).text).toContain(`8000 → <code>/open 8000</code> (${own})`);
    } finally {
      await run(['config', 'unset', 'web.apps-domain']);
    }
  });

  it('/exec runs as the VM user without a host shell, shows the exit code, and attaches long output', async () => {
    const hi = await ask(ALICE, '/exec echo hi; id -u; exit 3');
    expect(hi.text).toMatch(/hi\n1000/);
    expect(hi.text).toContain('Exit code: 3');

    const hostile = await ask(ALICE, `/exec echo "a  b" '$(touch /tmp/x)' $(echo c)\necho second line`);
    expect(hostile.text).toContain('a  b $(touch /tmp/x) c\nsecond line');

    const after = fake.sent.length;
    fake.sendText(ALICE, '/exec seq 1 10000');
    const doc = await fake.waitFor((s) => s.chatId === ALICE.id && s.method === 'sendDocument', { after });
    const lines = doc.document?.data.toString('utf8').trim().split('\n') ?? [];
    expect(lines).toHaveLength(10000);
    expect(lines.at(-1)).toBe('10000');
    const block = fake.sent.slice(after).find((s) => s.chatId === ALICE.id && /Full output/.test(s.text));
    expect(block?.text.length).toBeLessThanOrEqual(4096);
    expect(block?.text).toContain('10000');
  });

  it('refuses hostile button data and admin arguments that name someone else', async () => {
    const before = await stateText(h.home);
    const after = fake.sent.length;
    fake.pressButton(ALICE, 1, 'create:big');
    await fake.waitFor((s) => s.chatId === ALICE.id && /only create VMs on your own plan/.test(s.text), { after });
    const calls = fake.calls.length;
    fake.pressButton(ALICE, 1, 'ap:0123456789ab:big');
    await waitFor('the button refused', async () =>
      fake.calls.slice(calls).some((c) => c.method === 'answerCallbackQuery' && /no longer valid/.test(c.params.text ?? '')),
    );
    const taken = await ask(ADMIN, '/allow_user 5555 basic bob');
    expect(taken.text).toMatch(/belongs to another account/);
    expect(await stateText(h.home)).toBe(before);
  });

  it('refuses a 100 KB command line and an exec for another user’s VM', async () => {
    const long = await ask(ALICE, `/exec echo ${'x'.repeat(100_000)}`);
    expect(long.text).toMatch(/the most is 4096/);
    for (const arg of ['bob', '../bob', 'bob/main', 'BOB']) {
      const reply = await ask(ALICE, `/stop ${arg}`);
      expect(reply.text).toMatch(/no such VM|not a valid VM name|There is no VM/i);
    }
    expect((await docker.getContainer(await vmContainer('bob')).inspect()).State.Running).toBe(true);
  });

  it('/upload then /download round-trips a binary file with the user’s ownership; paths stay inside the VM', async () => {
    const data = randomBytes(300_000);
    const after = fake.sent.length;
    fake.sendDocument(ALICE, 'blob.bin', data, '/upload inbox');
    const saved = await fake.waitFor((s) => s.chatId === ALICE.id && /Saved/.test(s.text), { after });
    expect(saved.text).toContain(`/home/${ALICE_LOGIN}/inbox/blob.bin`);
    const owner = await execa('docker', [
      'exec',
      await vmContainer(ALICE_LOGIN),
      'stat',
      '-c',
      '%u',
      `/home/${ALICE_LOGIN}/inbox/blob.bin`,
    ]);
    expect(owner.stdout.trim()).toBe('1000');

    const after2 = fake.sent.length;
    fake.sendText(ALICE, '/download inbox/blob.bin');
    const file = await fake.waitFor((s) => s.chatId === ALICE.id && s.method === 'sendDocument', { after: after2 });
    expect(file.document?.name).toBe('blob.bin');
    expect(
      createHash('sha256')
        .update(file.document?.data ?? '')
        .digest('hex'),
    ).toBe(createHash('sha256').update(data).digest('hex'));

    const after3 = fake.sent.length;
    fake.sendText(ALICE, '/download inbox');
    const tar = await fake.waitFor((s) => s.chatId === ALICE.id && s.method === 'sendDocument', { after: after3 });
    expect(tar.document?.name).toBe('inbox.tar.gz');
    expect(gunzipSync(tar.document?.data ?? Buffer.alloc(0)).includes(Buffer.from('blob.bin'))).toBe(true);

    const shadow = await ask(ALICE, '/download ../../etc/shadow');
    expect(shadow.text).toMatch(/may not read/);
    const missing = await ask(ALICE, '/download nothing/here');
    expect(missing.text).toMatch(/There is no nothing\/here in your VM/);
    const noFile = await ask(ALICE, '/upload');
    expect(noFile.text).toMatch(/no file to upload/);
  });

  it('/sshkey adds a validated key, /sshkeys removes it with a button, /ssh shows the line', async () => {
    const { stdout: pub } = await execa('sh', [
      '-c',
      `rm -f ${h.home}/k ${h.home}/k.pub; ssh-keygen -q -t ed25519 -N '' -C laptop -f ${h.home}/k && cat ${h.home}/k.pub`,
    ]);
    const bad = await ask(ALICE, '/sshkey ssh-ed25519 notakey');
    expect(bad.text).toMatch(/⚠️/);
    const added = await ask(ALICE, `/sshkey ${pub}`);
    const fp = added.text.match(/SHA256:[A-Za-z0-9+/]{43}/)?.[0];
    expect(fp).toBeTruthy();
    const ssh = await ask(ALICE, '/ssh');
    expect(ssh.text).toContain(`ssh -p ${sshPort} ${ALICE_LOGIN}@`);
    expect(ssh.text).toMatch(/host key: <code>SHA256:[A-Za-z0-9+/]{43}<\/code>/);
    expect(ssh.text).toContain(fp);
    const list = await ask(ALICE, '/sshkeys');
    const after = fake.sent.length;
    fake.pressButton(ALICE, list.messageId, `rmkey:${fp}`);
    await fake.waitFor((s) => s.chatId === ALICE.id && /Removed/.test(s.text), { after });
    expect((await state(h.home)).users.find((u: { login: string }) => u.login === ALICE_LOGIN).keys).toHaveLength(0);
  });

  it('keeps admin commands from users, and refuses bad admin input without changing anything', async () => {
    const before = await stateText(h.home);
    const sneaky = await ask(ALICE, '/config_ram 64g');
    expect(sneaky.text).toMatch(/I do not know that/);
    const lots = await ask(ADMIN, '/config_ram lots');
    expect(lots.text).toMatch(/⚠️/);
    expect(await stateText(h.home)).toBe(before);

    const info = await ask(ADMIN, '/admin_info');
    expect(info.text).toMatch(/Active VMs<\/b> \(2\)/);
    const ram = await ask(ADMIN, '/config_ram 2g');
    expect(ram.text).toMatch(/ram is now 2/);
    const users = await ask(ADMIN, '/users');
    expect(users.text).toContain(ALICE_LOGIN);
  });

  it('tells users about maintenance started from the CLI, and marks users who blocked the bot', async () => {
    const after = fake.sent.length;
    const on = await run(['maintenance', 'on', '--reason', 'kernel update']);
    expect(on.code, on.stderr).toBe(0);
    await fake.waitFor((s) => s.chatId === ALICE.id && /maintenance/i.test(s.text), { after });
    await waitFor(
      'carol to be marked as blocking the bot',
      async () => (await state(h.home)).users.find((u: { login: string }) => u.login === 'carol').telegramBlocked,
    );
    const off = await run(['maintenance', 'off']);
    expect(off.code, off.stderr).toBe(0);
  });

  it('retries a Bot API 429 after retry_after', async () => {
    fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
    const reply = await ask(ALICE, '/myid', (s) => /Telegram id/.test(s.text));
    expect(reply.text).toContain(String(ALICE.id));
    expect(fake.calls.filter((c) => c.method === 'sendMessage' && c.params.chat_id === ALICE.id).length).toBeGreaterThan(0);
  });

  it('rate-limits a user with one "slow down" reply', async () => {
    await run(['config', 'set', 'telegram.rate-limit', '3']);
    const after = fake.sent.length;
    for (let i = 0; i < 7; i++) fake.sendText(ADMIN, '/myid');
    await fake.waitFor((s) => s.chatId === ADMIN.id && /Slow down/.test(s.text), { after });
    await new Promise((r) => setTimeout(r, 1000));
    const mine = fake.sent.slice(after).filter((s) => s.chatId === ADMIN.id);
    expect(mine.filter((s) => /Slow down/.test(s.text))).toHaveLength(1);
    expect(mine.filter((s) => /Telegram id/.test(s.text)).length).toBeLessThanOrEqual(3);
    await run(['config', 'set', 'telegram.rate-limit', '1000']);
  });

  it('counts button presses and other updates against the same limit, not only commands', async () => {
    await run(['config', 'set', 'telegram.rate-limit', '3']);
    try {
      const after = fake.sent.length;
      // Another sender than the test before: "slow down" is said once a minute per sender.
      for (let i = 0; i < 7; i++) fake.pressButton(ALICE, 1, `create:nosuchplan${i}`);
      await fake.waitFor((s) => s.chatId === ALICE.id && /Slow down/.test(s.text), { after });
    } finally {
      await run(['config', 'set', 'telegram.rate-limit', '1000']);
    }
  });

  it('/destroy asks first, then destroys', async () => {
    const confirm = await ask(ALICE, '/destroy');
    expect(confirm.replyMarkup.inline_keyboard.flat().map((b: { callback_data: string }) => b.callback_data)).toContain(
      'destroy:main:wipe',
    );
    const after = fake.sent.length;
    fake.pressButton(ALICE, confirm.messageId, 'destroy:main:wipe');
    await fake.waitFor((s) => s.chatId === ALICE.id && /destroyed; your files were deleted/.test(s.text), { after, timeoutMs: 60_000 });
    expect(await findVmContainer(ALICE_LOGIN)).toBeNull();
  });

  it('refuses a revoked user politely, once', async () => {
    expect((await run(['user', 'revoke', 'bob'])).code).toBe(0);
    const first = await ask(BOB, '/status');
    expect(first.text).toBe('Sorry, you do not have access to this service.');
    const after = fake.sent.length;
    fake.sendText(BOB, '/help');
    await new Promise((r) => setTimeout(r, 1500));
    expect(allText(BOB, after)).toBe('');
  });

  it('never writes the token to the state, the log or --json output', async () => {
    const status = await run(['telegram', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ username: 'berth_test_bot', tokenSource: 'file', daemon: 'running' });
    expect(JSON.parse(status.stdout).lastUpdateAt).toBeTruthy();
    for (const text of [status.stdout, await stateText(h.home), await daemonLog(h.home)])
      expect(text).not.toContain(fake.token.split(':')[1]);
    expect(((await import('node:fs')).statSync(join(h.home, 'secrets.json')).mode & 0o777).toString(8)).toBe('600');
    expect(JSON.parse(await readFile(join(h.home, 'secrets.json'), 'utf8')).telegramToken).toBe(fake.token);
  });
});

describe('webhook mode', () => {
  it('registers the webhook with a secret and answers 401 to a wrong one', async () => {
    await stopDaemonQuietly(h.home);
    const port = 20000 + Math.floor(Math.random() * 20000);
    for (const args of [
      ['config', 'set', 'telegram.mode', 'webhook'],
      ['config', 'set', 'telegram.webhook-url', `http://127.0.0.1:${port}/tg/hook`],
      ['config', 'set', 'telegram.webhook-listen', `127.0.0.1:${port}`],
    ]) {
      expect((await run(args)).code).toBe(0);
    }
    const start = await run(['daemon', 'start']);
    expect(start.code, start.stderr).toBe(0);
    const hook = await waitFor('setWebhook', async () => fake.webhook);
    expect(hook.url).toBe(`http://127.0.0.1:${port}/tg/hook`);
    expect(hook.secret).toMatch(/^[0-9a-f]{64}$/);
    const update = {
      update_id: 999001,
      message: {
        message_id: 1,
        date: 0,
        chat: { id: ADMIN.id, type: 'private' },
        from: { id: ADMIN.id, is_bot: false, first_name: 'a' },
        text: '/myid',
        entities: [{ type: 'bot_command', offset: 0, length: 5 }],
      },
    };
    const post = (secret: string) =>
      fetch(`http://127.0.0.1:${port}/tg/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
        body: JSON.stringify(update),
      });
    expect((await post('wrong')).status).toBe(401);
    const after = fake.sent.length;
    expect((await post(hook.secret as string)).status).toBe(200);
    await fake.waitFor((s) => s.chatId === ADMIN.id && /Telegram id/.test(s.text), { after });
    await stopDaemonQuietly(h.home);
    await run(['config', 'unset', 'telegram.mode']);
  });
});
