/** Errors of the Telegram bot: its token, the Bot API, and what users send it. */
export const TELEGRAM_ERRORS = {
  INVALID_TOKEN: 'That is not a Telegram bot token (digits, a colon and a secret): copy the token @BotFather gave you.',
  TOKEN_REJECTED: 'The Bot API rejected the token: copy it again from @BotFather (/token) and run `berth telegram setup` again.',
  TELEGRAM_UNREACHABLE: 'The Bot API server did not answer or refused the bot: check the network, the token and telegram.api-root.',
  WEBHOOK_URL_MISSING: 'telegram.mode is webhook but telegram.webhook-url is not set: set it to the public HTTPS URL Telegram posts to.',
  LOGIN_EXHAUSTED: 'No free login could be made from your Telegram name: ask an admin to add you with /allow_user.',
  LOGIN_TAKEN: 'The login asked for belongs to another account: pick another one, or leave it out to have one derived.',
  COMMAND_TOO_LONG: 'The /exec command is longer than the bot takes: put long scripts in a file (/upload) and run the file.',
  FILE_UNAVAILABLE: 'Telegram did not hand over the file that was sent: send it again.',
} as const;
