import { invalidInput } from '../../errors.js';
import { botTokenStore, type SavedToken, type TokenSource } from './bot-token.js';

// Discord bot tokens: three base64url parts joined by dots (the bot's id, a timestamp, an HMAC).
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{18,40}\.[A-Za-z0-9_-]{4,10}\.[A-Za-z0-9_-]{20,80}$/;

/** A Discord bot token, trimmed (a pasted "Bot " prefix dropped), or a usage error that never echoes it. */
export function checkDiscordTokenFormat(input: string): string {
  const token = input.trim().replace(/^Bot\s+/, '');
  if (!TOKEN_PATTERN.test(token)) {
    throw invalidInput(
      'INVALID_DISCORD_TOKEN',
      'That is not a Discord bot token (expected three parts joined by dots).',
      "Copy it from the Developer Portal: your application's Bot page, Reset Token.",
    );
  }
  return token;
}

const DISCORD_TOKEN = botTokenStore({
  service: 'berth-discord',
  field: 'discordToken',
  envVar: 'BERTH_DISCORD_TOKEN',
  check: checkDiscordTokenFormat,
});

/** The Discord bot's token in force: BERTH_DISCORD_TOKEN, else the OS keychain, else secrets.json. */
export const readDiscordToken: (home: string, env?: NodeJS.ProcessEnv) => Promise<{ token: string; source: TokenSource } | null> =
  DISCORD_TOKEN.load;

/** Stores the token in the OS keychain when a Secret Service answers, else in secrets.json (0600). */
export const saveDiscordToken: (home: string, token: string) => Promise<SavedToken> = DISCORD_TOKEN.save;

/** Forgets the token everywhere berth stored it; whether there was one. */
export const removeDiscordToken: (home: string) => Promise<boolean> = DISCORD_TOKEN.remove;
