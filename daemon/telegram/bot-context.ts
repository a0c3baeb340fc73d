import type { Context } from 'grammy';
import type { Logger } from 'pino';
import type { Actor } from '../../src/domain/actor.js';
import type { TicketBook } from '../../src/services/access/web-links.js';
import type { AgentRuns } from '../../src/services/agents/agent-runs.js';
import type { Berth } from '../../src/services/core/context.js';
import type { TelegramIdentity } from '../../src/services/people/telegram-users.js';
import type { State } from '../../src/state/schema.js';
import type { TurnedAwayDigest } from './turned-away-digest.js';

/** What every handler knows about the sender, read from the state for this update. */
export interface Sender {
  state: State;
  identity: TelegramIdentity;
  actor: Actor;
}

export type BotContext = Context & { berth: Sender };

/** What the bot's handlers share. */
export interface BotDeps {
  ctx: Berth;
  log: Logger;
  /** The Bot API root in use (official or self-hosted). */
  apiRoot: string;
  token: string;
  /** The most the Bot API lets the bot send or fetch, in bytes. */
  maxSendBytes: number;
  maxFetchBytes: number;
  /** The web server's one-time links (/web_terminal, /open), while it runs. */
  web?: { book: TicketBook; running: () => boolean };
  /** The daemon's agent runs (conversations from chat). */
  agents?: AgentRuns;
  /** Strangers turned away while the waiting list is full, told to the admins as a digest. */
  turnedAway?: TurnedAwayDigest;
}

/** The sender's berth login, or a clear error when they have none. */
export function loginOf(ctx: BotContext): string {
  const login = ctx.berth.identity.user?.status === 'allowed' ? ctx.berth.identity.user.login : undefined;
  if (!login) throw new NoLoginError();
  return login;
}

export class NoLoginError extends Error {
  constructor() {
    super('You have no berth user yet: send /start first.');
  }
}

/** The text after the command (`/exec ls -la` → `ls -la`). */
export function argsOf(ctx: BotContext): string {
  const match = ctx.match;
  return typeof match === 'string' ? match.trim() : '';
}

/** An admin sender in the event log: "admin LOGIN (bot)", or their Telegram id. */
export function adminLabel(ctx: BotContext): string {
  return `admin ${ctx.berth.identity.user?.login ?? `telegram:${ctx.from?.id ?? '?'}`} (bot)`;
}
