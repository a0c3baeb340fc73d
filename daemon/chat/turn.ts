import type { Actor } from '../../src/domain/actor.js';
import type { ChatAccount, ChatIdentity, FrontEnd } from '../../src/services/people/chat-users.js';
import type { State } from '../../src/state/schema.js';
import type { Message, Rich } from './message.js';

/** What a front-end is like, as far as the core's replies care. */
export interface FrontEndInfo {
  name: FrontEnd;
  /** How users know it: "Telegram", "Discord". */
  title: string;
  /** The longest text of one message, in rendered characters. */
  messageLimit: number;
  /** How long a text is once rendered for this front-end. */
  renderedLength: (text: Rich | string) => number;
  /** Room for an output block in one message, in rendered characters. */
  blockLimit: number;
  /** What one character costs inside a rendered block (escaping lengthens some). */
  charCost: (c: string) => number;
  /** What one character of plain text costs at most once rendered, against `messageLimit`. */
  textCost: (c: string) => number;
  /** The largest file the bot may send, and fetch from users, in bytes. */
  maxSendBytes: number;
  maxFetchBytes: number;
  /** The least time between two edits of one streamed reply. */
  editIntervalMs: number;
}

/** A message the bot posted: it can be edited or removed later. */
export interface Posted {
  edit(message: Message | string): Promise<void>;
  remove(): Promise<void>;
}

/** A file that came with a command or a message. */
export interface Incoming {
  name: string;
  /** As the front-end announced it (before fetching). */
  size?: number;
  fetch(): Promise<Buffer>;
}

/** Who the sender is, read from the state for this turn. */
export interface Sender {
  state: State;
  identity: ChatIdentity;
  actor: Actor;
}

export type Args = Readonly<Record<string, string | undefined>>;

/** One thing a person did (a command, a button press, a message) and how to answer it. */
export interface Turn {
  frontEnd: FrontEndInfo;
  account: ChatAccount;
  sender: Sender;
  args: Args;
  attachment?: Incoming;
  /** The message the pressed button is on (button presses only). */
  pressed?: Posted;
  /**
   * How a secret argument reached the bot: in a message it then deleted (`deleted`) or could not
   * delete (`kept`), or typed into a form nobody else sees (`form`).
   */
  secretVia?: 'deleted' | 'kept' | 'form';
  reply(message: Message | string): Promise<Posted>;
  /** A short note about a button press that passes (Telegram's toast); replies where there is none. */
  toast?(text: string): Promise<void>;
  /** Tells the front-end a button press was taken (Telegram stops the button's spinner). */
  acknowledge?(): Promise<void>;
}

/** A front-end's way to reach an account outside a turn: notices, access requests. */
export interface Reach {
  info: FrontEndInfo;
  /** Sends to the account's private chat. `blocked`: the person blocked the bot or closed their DMs. */
  send(accountId: string, message: Message | string): Promise<'sent' | 'blocked'>;
}
