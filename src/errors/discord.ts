/** Errors of the Discord bot: its token and the Discord API. */
export const DISCORD_ERRORS = {
  INVALID_DISCORD_TOKEN:
    "That is not a Discord bot token (three dot-separated parts): copy the token from the Developer Portal, the application's Bot page (Reset Token).",
  DISCORD_TOKEN_REJECTED:
    'The Discord API rejected the token: reset it on the Bot page of the Developer Portal and run `berth discord setup` again.',
  DISCORD_UNREACHABLE: 'The Discord API did not answer in time or answered with an error: check the network and discord.api-root.',
} as const;
