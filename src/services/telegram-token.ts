import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { BerthError, invalidInput } from '../errors.js';

/** Where the bot token in force comes from. */
export type TokenSource = 'env' | 'keychain' | 'file';

const SERVICE = 'berth-telegram';
const KEYCHAIN_TIMEOUT_MS = 5000;
// Bot API tokens: "<bot id>:<secret>".
const TOKEN_PATTERN = /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/;

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export function secretsPath(home: string): string {
  return join(home, 'secrets.json');
}

export function checkTokenFormat(input: string): string {
  const token = input.trim();
  if (!TOKEN_PATTERN.test(token)) {
    // Never echo the input: it may be a real token with a typo.
    throw invalidInput(
      'INVALID_TOKEN',
      'That is not a Telegram bot token (expected digits, a colon and a secret).',
      'Copy the token @BotFather gave you, e.g. 123456789:AA…',
    );
  }
  return token;
}

/** keytar is optional: missing (no native build) or unusable (no Secret Service) → null with why. */
async function keychain(): Promise<{ keytar: Keytar } | { unavailable: string }> {
  let keytar: Keytar;
  try {
    keytar = createRequire(import.meta.url)('keytar') as Keytar;
  } catch (err) {
    return { unavailable: `keytar is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  return { keytar };
}

function withTimeout<T>(work: Promise<T>, ms = KEYCHAIN_TIMEOUT_MS): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('the Secret Service did not answer')), ms).unref()),
  ]);
}

/** Whether `telegram setup` would store the token in the OS keychain: keytar loads and a Secret Service answers. */
export async function keychainStatus(): Promise<{ inUse: boolean; detail: string }> {
  const kc = await keychain();
  if (!('keytar' in kc)) return { inUse: false, detail: kc.unavailable };
  try {
    await withTimeout(kc.keytar.getPassword(SERVICE, 'berth-probe'), 2000);
    return { inUse: true, detail: 'Secret Service' };
  } catch (err) {
    return { inUse: false, detail: `no Secret Service (${(err as Error).message.split('\n')[0]})` };
  }
}

async function readSecrets(home: string): Promise<Record<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(secretsPath(home), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError(
      'SECRETS_UNREADABLE',
      `Cannot read ${secretsPath(home)}.`,
      'Fix or remove the file, then run berth telegram setup again.',
    );
  }
}

async function writeSecrets(home: string, secrets: Record<string, string>): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const path = secretsPath(home);
  if (Object.keys(secrets).length === 0) {
    await rm(path, { force: true });
    return;
  }
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(secrets, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** The token in force: BERTH_TELEGRAM_TOKEN, else the OS keychain, else secrets.json. */
export async function loadTelegramToken(
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ token: string; source: TokenSource } | null> {
  if (env.BERTH_TELEGRAM_TOKEN) return { token: env.BERTH_TELEGRAM_TOKEN.trim(), source: 'env' };
  const kc = await keychain();
  if ('keytar' in kc) {
    const token = await withTimeout(kc.keytar.getPassword(SERVICE, resolve(home))).catch(() => null);
    if (token) return { token, source: 'keychain' };
  }
  const token = (await readSecrets(home)).telegramToken;
  return token ? { token, source: 'file' } : null;
}

export interface SavedToken {
  source: 'keychain' | 'file';
  /** Why the keychain was not used, when it was not. */
  keychainUnavailable?: string;
}

/** Stores the token in the OS keychain when a Secret Service answers, else in secrets.json (0600). */
export async function saveTelegramToken(home: string, token: string): Promise<SavedToken> {
  const checked = checkTokenFormat(token);
  const kc = await keychain();
  let unavailable: string;
  if ('keytar' in kc) {
    try {
      await withTimeout(kc.keytar.setPassword(SERVICE, resolve(home), checked));
      const { telegramToken: _old, ...rest } = await readSecrets(home);
      await writeSecrets(home, rest);
      return { source: 'keychain' };
    } catch (err) {
      unavailable = `no Secret Service (${(err as Error).message.split('\n')[0]})`;
    }
  } else {
    unavailable = kc.unavailable;
  }
  await writeSecrets(home, { ...(await readSecrets(home)), telegramToken: checked });
  return { source: 'file', keychainUnavailable: unavailable };
}

/** Forgets the token everywhere berth stored it. */
export async function removeTelegramToken(home: string): Promise<boolean> {
  let removed = false;
  const kc = await keychain();
  if ('keytar' in kc) removed = await withTimeout(kc.keytar.deletePassword(SERVICE, resolve(home))).catch(() => false);
  const { telegramToken, ...rest } = await readSecrets(home);
  if (telegramToken) {
    await writeSecrets(home, rest);
    removed = true;
  }
  return removed;
}

/**
 * Another secret of this berth home (the data key of users' secrets…), kept as the bot token is:
 * the OS keychain under `service` when a Secret Service answers, else `field` of secrets.json (0600).
 */
export async function loadHomeSecret(home: string, service: string, field: string): Promise<string | null> {
  const kc = await keychain();
  if ('keytar' in kc) {
    const value = await withTimeout(kc.keytar.getPassword(service, resolve(home))).catch(() => null);
    if (value) return value;
  }
  return (await readSecrets(home))[field] ?? null;
}

export async function saveHomeSecret(home: string, service: string, field: string, value: string): Promise<'keychain' | 'file'> {
  const kc = await keychain();
  if ('keytar' in kc) {
    const stored = await withTimeout(kc.keytar.setPassword(service, resolve(home), value)).then(
      () => true,
      () => false,
    );
    if (stored) return 'keychain';
  }
  await writeSecrets(home, { ...(await readSecrets(home)), [field]: value });
  return 'file';
}
