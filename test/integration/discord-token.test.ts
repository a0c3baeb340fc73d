import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, freePort, tempHome } from '../helpers/cli.js';

// A stand-in for the two Discord API calls `berth discord setup/status` make, on 127.0.0.1.
const TOKEN = `MTA4NzY1NDMyMTA5ODc2NTQzMg.GxYz12.${'s'.repeat(38)}`;
const REJECTED = `MTA4NzY1NDMyMTA5ODc2NTQzMg.GxYz12.${'r'.repeat(38)}`;
const BOT = { id: '1087654321098765432', username: 'berth-test', discriminator: '0', bot: true };
const APP = { id: '1087654321098765000', name: 'berth test app' };

let server: Server;
let apiRoot: string;
const seen: { path: string; auth: string }[] = [];
let home: string;
let cleanup: () => Promise<void>;
// No Secret Service: the token goes to secrets.json, where the test can see it.
const NO_KEYCHAIN = { DBUS_SESSION_BUS_ADDRESS: '', DISPLAY: '' };
const run = (args: string[], input?: string, env: Record<string, string> = {}) =>
  berth(home, args, { input, env: { ...NO_KEYCHAIN, ...env } });

beforeAll(async () => {
  server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push({ path: req.url ?? '', auth });
    const body = req.url === '/api/v10/users/@me' ? BOT : req.url === '/api/v10/oauth2/applications/@me' ? APP : null;
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message": "404: Not Found", "code": 0}');
    } else if (auth !== `Bot ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message": "401: Unauthorized", "code": 0}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiRoot = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  ({ home, cleanup } = await tempHome());
  expect((await run(['init'])).code).toBe(0);
  expect((await run(['config', 'set', 'discord.api-root', apiRoot])).code).toBe(0);
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await cleanup();
});

/** Every file under the berth home but secrets.json, as text. */
async function homeTextButSecrets(): Promise<string> {
  const entries = await readdir(home, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && e.name !== 'secrets.json').map((e) => join(e.parentPath, e.name));
  return (await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
}

describe('berth discord setup, status and forget', () => {
  it('without a token, status says how to set one up and exits 1', async () => {
    const status = await run(['discord', 'status', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toEqual({
      configured: false,
      tokenSource: null,
      botId: null,
      username: null,
      applicationId: null,
      inviteUrl: null,
      apiRoot,
      daemon: 'stopped',
      guilds: null,
      lastInteractionAt: null,
      problem: 'no token — run berth discord setup',
    });
  });

  it('refuses a malformed token and one the Discord API rejects, storing nothing and never echoing it', async () => {
    const malformed = await run(['discord', 'setup'], 'not-a-token-secret-xyz\n');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/not a Discord bot token/);
    expect(malformed.stderr).not.toContain('secret-xyz');
    const rejected = await run(['discord', 'setup', '--json'], `${REJECTED}\n`);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr + rejected.stdout).toMatch(/rejected the token \(401\)/);
    expect(rejected.stderr + rejected.stdout).not.toContain('r'.repeat(38));
    expect(seen.some((r) => r.auth === `Bot ${REJECTED}`)).toBe(true);
    await expect(stat(join(home, 'secrets.json'))).rejects.toThrow();
  });

  it('says so when the Discord API cannot be reached, storing nothing', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/api`;
    await run(['config', 'set', 'discord.api-root', closed]);
    try {
      const unreachable = await run(['discord', 'setup'], `${TOKEN}\n`);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toContain(`The Discord API at ${closed} could not be reached`);
      expect(unreachable.stderr).not.toContain(TOKEN);
      await expect(stat(join(home, 'secrets.json'))).rejects.toThrow();
    } finally {
      await run(['config', 'set', 'discord.api-root', apiRoot]);
    }
  });

  it('checks the token with both calls, stores it in secrets.json (0600) and prints the invite link', async () => {
    seen.length = 0;
    const setup = await run(['discord', 'setup'], `${TOKEN}\n`);
    expect(setup.code, setup.stderr).toBe(0);
    expect(seen).toEqual(
      expect.arrayContaining([
        { path: '/api/v10/users/@me', auth: `Bot ${TOKEN}` },
        { path: '/api/v10/oauth2/applications/@me', auth: `Bot ${TOKEN}` },
      ]),
    );
    expect(setup.stdout).toContain(`the bot is berth-test (application ${APP.id}`);
    expect(setup.stdout).toMatch(/Stored in .*secrets\.json \(mode 0600\): the OS keychain is not usable here/);
    expect(setup.stdout).toContain(
      `https://discord.com/oauth2/authorize?client_id=${APP.id}&scope=bot+applications.commands&permissions=0`,
    );
    expect(setup.stdout + setup.stderr).not.toContain(TOKEN);
    expect((await stat(join(home, 'secrets.json'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8'))).toEqual({ discordToken: TOKEN });
    expect(await homeTextButSecrets()).not.toContain(TOKEN);
  });

  it('status shows the source, the bot, the application and the invite link, never the token', async () => {
    const status = await run(['discord', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({
      configured: true,
      tokenSource: 'file',
      botId: BOT.id,
      username: 'berth-test',
      applicationId: APP.id,
      inviteUrl: `https://discord.com/oauth2/authorize?client_id=${APP.id}&scope=bot+applications.commands&permissions=0`,
      apiRoot,
      daemon: 'stopped',
      guilds: null,
      lastInteractionAt: null,
      problem: null,
    });
    expect(status.stdout).not.toContain(TOKEN);
    const text = await run(['discord', 'status']);
    expect(text.stdout).toMatch(/Token: +file/);
    expect(text.stdout).not.toContain(TOKEN);
    // BERTH_DISCORD_TOKEN wins over the stored token, and is checked in its stead.
    const env = await run(['discord', 'status', '--json'], undefined, { BERTH_DISCORD_TOKEN: REJECTED });
    expect(env.code).toBe(1);
    expect(JSON.parse(env.stdout)).toMatchObject({
      tokenSource: 'env',
      username: null,
      problem: expect.stringMatching(/rejected the token/),
    });
    expect(env.stdout).not.toContain(REJECTED);
  });

  it('forget removes the token (and only it), once', async () => {
    // A Telegram token in the same secrets.json stays.
    const secrets = join(home, 'secrets.json');
    const { writeFile } = await import('node:fs/promises');
    const telegram = `123456:${'t'.repeat(35)}`;
    await writeFile(secrets, JSON.stringify({ discordToken: TOKEN, telegramToken: telegram }), { mode: 0o600 });
    const forget = await run(['discord', 'forget', '--json']);
    expect(forget.code, forget.stderr).toBe(0);
    expect(JSON.parse(forget.stdout)).toEqual({ removed: true });
    expect(JSON.parse(await readFile(secrets, 'utf8'))).toEqual({ telegramToken: telegram });
    expect(JSON.parse((await run(['discord', 'forget', '--json'])).stdout)).toEqual({ removed: false });
    expect(JSON.parse((await run(['discord', 'status', '--json'])).stdout)).toMatchObject({ configured: false });
    expect((await run(['telegram', 'forget'])).code).toBe(0);
    await expect(stat(secrets)).rejects.toThrow();
  });
});

describe("a user's Discord id from the CLI", () => {
  const ID = '80351110224678912';

  it('user allow and user set take a Discord id, refuse a malformed or taken one, and none clears it', async () => {
    expect((await run(['user', 'allow', 'ann'])).code).toBe(0);
    const bad = await run(['user', 'set', 'ann', '--discord-id', '12ab']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"12ab" is not a Discord user id (17 to 20 digits)');
    expect(bad.stderr).toMatch(/Copy ID/);
    const set = await run(['user', 'set', 'ann', '--discord-id', ID, '--json']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ login: 'ann', discordId: ID, telegramId: null });
    const show = await run(['user', 'show', 'ann']);
    expect(show.stdout).toMatch(new RegExp(`Discord id:? +${ID}`));
    const taken = await run(['user', 'allow', 'bob', '--discord-id', ID]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(`Discord id ${ID} already belongs to user "ann"`);
    expect(taken.stderr).toContain('berth user set ann --discord-id none');
    const list = await run(['user', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ login: 'ann', discordId: ID })]);
    expect((await run(['user', 'list'])).stdout).toMatch(/DISCORD ID[\s\S]*80351110224678912/);
    const cleared = await run(['user', 'set', 'ann', '--discord-id', 'none', '--json']);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ discordId: null });
    const bob = await run(['user', 'allow', 'bob', '--discord-id', ID, '--json']);
    expect(bob.code, bob.stderr).toBe(0);
    expect(JSON.parse(bob.stdout)).toMatchObject({ login: 'bob', discordId: ID });
  });
});
