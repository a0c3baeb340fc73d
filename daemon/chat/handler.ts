import type { Logger } from 'pino';
import type { TicketBook } from '../../src/services/access/web-links.js';
import type { AgentRuns } from '../../src/services/agents/agent-runs.js';
import type { Berth } from '../../src/services/core/context.js';
import type { LinkCodes } from '../../src/services/people/link-codes.js';
import type { Recorder } from '../recorder.js';
import type { Message } from './message.js';
import type { Turn } from './turn.js';

/** What the core's handlers share. */
export interface ChatDeps {
  ctx: Berth;
  log: Logger;
  /** The web server's one-time links (/web_terminal, /open), while it runs. */
  web?: { book: TicketBook; running: () => boolean };
  /** The daemon's agent runs (conversations from chat). */
  agents?: AgentRuns;
  /** One-time codes that link a Telegram and a Discord account. */
  links: LinkCodes;
  /** Records recorded users' /exec output where sessions.record-exec is on. */
  recorder?: Recorder;
}

/** What a handler may use of the core. */
export interface CoreAccess {
  readonly deps: ChatDeps;
  /** Strangers refused while the waiting list is full, told to the admins as a digest. */
  readonly turnedAway: { note(account: string): void };
  /** Every admin on every front-end that runs. */
  toAdmins(message: Message | string): Promise<void>;
}

export type Handler = (turn: Turn, core: CoreAccess) => Promise<void>;

export interface ButtonHandler {
  pattern: RegExp;
  /** Only admins' presses reach it. */
  admin?: boolean;
  run: (turn: Turn, match: RegExpMatchArray, core: CoreAccess) => Promise<void>;
}
