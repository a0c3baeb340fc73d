import { invalidInput } from '../../errors.js';
import { loadHomeSecret, removeHomeSecret, type StoredSecret, saveHomeSecret } from './keychain.js';

/** Where the bot token in force comes from. */
export type TokenSource = 'env' | 'keychain' | 'file';
export type SavedToken = StoredSecret;

const SERVICE = 'berth-telegram';
const FIELD = 'telegramToken';
// Bot API tokens: "<bot id>:<secret>".
const TOKEN_PATTERN = /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/;

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

/** The token in force: BERTH_TELEGRAM_TOKEN, else the OS keychain, else secrets.json. */
export async function loadTelegramToken(
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ token: string; source: TokenSource } | null> {
  if (env.BERTH_TELEGRAM_TOKEN) return { token: env.BERTH_TELEGRAM_TOKEN.trim(), source: 'env' };
  const stored = await loadHomeSecret(home, SERVICE, FIELD);
  return stored ? { token: stored.value, source: stored.source } : null;
}

/** Stores the token in the OS keychain when a Secret Service answers, else in secrets.json (0600). */
export async function saveTelegramToken(home: string, token: string): Promise<SavedToken> {
  return saveHomeSecret(home, SERVICE, FIELD, checkTokenFormat(token));
}

/** Forgets the token everywhere berth stored it. */
export async function removeTelegramToken(home: string): Promise<boolean> {
  return removeHomeSecret(home, SERVICE, FIELD);
}
