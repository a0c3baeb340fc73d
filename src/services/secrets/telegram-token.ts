import { invalidInput } from '../../errors.js';
import { botTokenStore, type SavedToken, type TokenSource } from './bot-token.js';

export type { SavedToken, TokenSource } from './bot-token.js';

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

const TELEGRAM_TOKEN = botTokenStore({
  service: 'berth-telegram',
  field: 'telegramToken',
  envVar: 'BERTH_TELEGRAM_TOKEN',
  check: checkTokenFormat,
});

/** The token in force: BERTH_TELEGRAM_TOKEN, else the OS keychain, else secrets.json. */
export async function loadTelegramToken(
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ token: string; source: TokenSource } | null> {
  return TELEGRAM_TOKEN.load(home, env);
}

/** Stores the token in the OS keychain when a Secret Service answers, else in secrets.json (0600). */
export async function saveTelegramToken(home: string, token: string): Promise<SavedToken> {
  return TELEGRAM_TOKEN.save(home, token);
}

/** Forgets the token everywhere berth stored it. */
export async function removeTelegramToken(home: string): Promise<boolean> {
  return TELEGRAM_TOKEN.remove(home);
}
