import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, berth, tempHome } from '../helpers/cli.js';
import { startFakeBotApi } from '../helpers/fake-bot-api.js';

type Fake = Awaited<ReturnType<typeof startFakeBotApi>>;
let fake: Fake;
let home: string;
let cleanup: () => Promise<void>;
const run = (args: string[], input?: string, env?: Record<string, string>) => berth(home, args, { input, env });

beforeAll(async () => {
  fake = await startFakeBotApi();
  ({ home, cleanup } = await tempHome());
  await run(['init']);
  await run(['config', 'set', 'telegram.api-root', fake.apiRoot]);
});
afterAll(async () => {
  await fake.close();
  await cleanup();
});

describe('berth telegram setup and status', () => {
  it('without a token the daemon status says how to set one up', async () => {
    const status = await run(['telegram', 'status', '--json']);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({
      configured: false,
      tokenSource: null,
      problem: 'no token — run berth telegram setup',
    });
  });

  it('refuses a malformed token and one the Bot API rejects, storing nothing and never echoing it', async () => {
    const malformed = await run(['telegram', 'setup'], 'not-a-token-secret-xyz\n');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/not a Telegram bot token/);
    expect(malformed.stderr).not.toContain('secret-xyz');
    const wrong = `999:${'w'.repeat(35)}`;
    const rejected = await run(['telegram', 'setup'], `${wrong}\n`);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/rejected the token \(401\)/);
    expect(rejected.stderr).not.toContain('w'.repeat(35));
    await expect(stat(join(home, 'secrets.json'))).rejects.toThrow();
  });

  it('without a Secret Service, stores the token in secrets.json (0600) and says why', async () => {
    const setup = await run(['telegram', 'setup'], `${fake.token}\n`, { DBUS_SESSION_BUS_ADDRESS: '', DISPLAY: '' });
    expect(setup.code, setup.stderr).toBe(0);
    expect(setup.stdout).toContain('the bot is @berth_test_bot');
    expect(setup.stdout).toMatch(/Stored in .*secrets\.json \(mode 0600\): the OS keychain is not usable here/);
    expect(setup.stdout).not.toContain(fake.token);
    expect((await stat(join(home, 'secrets.json'))).mode & 0o777).toBe(0o600);
    const status = await run(['telegram', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      configured: true,
      tokenSource: 'file',
      username: 'berth_test_bot',
      daemon: 'stopped',
    });
    expect(status.stdout).not.toContain(fake.token);
    const env = await run(['telegram', 'status', '--json'], undefined, { BERTH_TELEGRAM_TOKEN: fake.token });
    expect(JSON.parse(env.stdout).tokenSource).toBe('env');
    expect((await run(['telegram', 'forget'])).code).toBe(0);
    await expect(stat(join(home, 'secrets.json'))).rejects.toThrow();
  });

  it('with a Secret Service (gnome-keyring on a private D-Bus), stores the token in the keychain', async () => {
    const keyringHome = join(home, 'desktop-home');
    await mkdir(keyringHome, { recursive: true });
    const script = [
      'echo unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1',
      `printf '%s\\n' "$TOKEN" | node ${BIN} telegram setup --json`,
      `node ${BIN} telegram status --json`,
    ].join(' && ');
    const result = await execa('dbus-run-session', ['--', 'sh', '-c', script], {
      env: { BERTH_HOME: home, HOME: keyringHome, TOKEN: fake.token, NO_COLOR: '1', XDG_RUNTIME_DIR: keyringHome },
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(1); // status: the daemon is not running
    const [setupJson, statusJson] = result.stdout.split(/\n(?=\{)/);
    expect(JSON.parse(setupJson ?? '')).toMatchObject({ stored: 'keychain', bot: { username: 'berth_test_bot' } });
    expect(JSON.parse(statusJson ?? '')).toMatchObject({ tokenSource: 'keychain', username: 'berth_test_bot' });
    await expect(readFile(join(home, 'secrets.json'), 'utf8')).rejects.toThrow();
    expect(result.stdout).not.toContain(fake.token);
  });
});
