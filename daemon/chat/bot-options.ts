import type { Logger } from 'pino';
import type { TokenSource } from '../../src/services/secrets/bot-token.js';
import type { ConfigValues } from '../../src/values/config-keys.js';
import type { FrontEndCounters } from '../metrics.js';
import type { ChatCore } from './core.js';

/** What the daemon gives a chat front-end (a bot) when it starts it. */
export interface BotOptions {
  core: ChatCore;
  log: Logger;
  token: string;
  tokenSource: TokenSource;
  config: ConfigValues;
  counters?: FrontEndCounters;
  /** The bot stopped on its own (the token was revoked…). */
  onFailure: (message: string) => void;
}
