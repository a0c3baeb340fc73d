import { type AgentEvent, toolLine } from '../../src/domain/agent-stream.js';
import type { AgentRunResult, RunObserver } from '../../src/services/agents/agent-runs.js';
import { formatDuration } from '../../src/values/durations.js';
import { headWithin, type Message, pre, type Span, sizeOf, splitText, tailWithin } from './message.js';
import type { Posted, Turn } from './turn.js';

/** Tool lines kept in a streamed reply. */
const TOOL_LINES = 12;
/** An answer longer than this many messages comes as a file instead. */
const MAX_PARTS = 3;

/**
 * One posted message edited in place: at most once per the front-end's edit interval (so chatty
 * progress never makes a message storm), edits in order, an edit that changes nothing skipped.
 */
export class ThrottledMessage {
  private posted: Promise<Posted | null> | null = null;
  private lastEdit = 0;
  private timer: NodeJS.Timeout | null = null;
  private shown = '';
  private chain: Promise<void> = Promise.resolve();
  private readonly interval: number;

  constructor(
    private readonly turn: Turn,
    private readonly onError: (err: Error) => void,
  ) {
    this.interval = turn.frontEnd.editIntervalMs;
  }

  /** Sends the message; resolves once it is shown (null: it could not be sent, told to onError). */
  post(message: Message | string): Promise<Posted | null> {
    this.posted = this.turn.reply(message).catch((err: Error) => {
      this.onError(err);
      return null;
    });
    this.lastEdit = Date.now();
    return this.posted;
  }

  get started(): boolean {
    return this.posted !== null;
  }

  /** Shows what `body` gives at the next free edit slot (one waiting edit at a time). */
  schedule(body: () => Message | string): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastEdit + this.interval - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.enqueue(() => this.edit(body()));
    }, wait);
  }

  /** Drops a waiting scheduled edit (a final one follows). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work).catch((err: Error) => this.onError(err));
    return this.chain;
  }

  async edit(message: Message | string): Promise<void> {
    const posted = await this.posted;
    const key = typeof message === 'string' ? message : JSON.stringify(message);
    if (!posted || key === this.shown) return;
    const wait = this.lastEdit + this.interval - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastEdit = Date.now();
    this.shown = key;
    await posted.edit(message).catch((err: Error) => {
      if (!/not modified/i.test(err.message)) throw err;
    });
  }
}

/**
 * One reply that follows a run: sent when the run starts, edited as text and tool uses arrive
 * (through ThrottledMessage), and edited a last time with the answer in full — split into more
 * messages, or attached as a file, when it does not fit.
 */
export class LiveReply implements RunObserver {
  private readonly message: ThrottledMessage;
  private tools: string[] = [];
  private text = '';
  private title = '🤖 Agent';
  private readonly limit: number;
  /** What a character costs against the limit once rendered. */
  private readonly cost: (c: string) => number;

  constructor(
    private readonly turn: Turn,
    onError: (err: Error) => void,
    private readonly timeoutSeconds: number,
  ) {
    this.limit = turn.frontEnd.messageLimit;
    this.cost = turn.frontEnd.textCost;
    this.message = new ThrottledMessage(turn, onError);
  }

  started(info: Parameters<NonNullable<RunObserver['started']>>[0]): void {
    this.title = `🤖 ${info.agent.title}${info.resumed ? '' : ' (new conversation)'}${info.startedVm ? ` · started your VM ${info.vm}` : ''}`;
    void this.message.post(`${this.title}\n⏳ Working…`);
  }

  event(event: AgentEvent): void {
    if (event.kind === 'tool') this.tools = [...this.tools, toolLine(event.tool, event.detail)].slice(-TOOL_LINES);
    else if (event.kind === 'text') this.text = event.text;
    else return;
    this.message.schedule(() => this.body(false));
  }

  private body(final: boolean): string {
    const tools = this.tools.join('\n');
    const room = Math.floor(this.limit * 0.6);
    const text = sizeOf(this.text, this.cost) > room ? `…${tailWithin(this.text, room - 1, this.cost)}` : this.text;
    return headWithin([this.title, tools, text, final ? '' : '⏳ Working…'].filter(Boolean).join('\n\n'), this.limit, this.cost);
  }

  finished(result: AgentRunResult): void {
    this.message.cancel();
    void this.message.enqueue(async () => {
      if (!this.message.started) {
        // It never started (what was queued could not run): say why.
        await this.turn.reply(`⚠️ ${result.error ?? 'The agent could not run.'}`);
        return;
      }
      const tools = this.tools.join('\n');
      const tail =
        result.outcome === 'stopped'
          ? '⏹ Stopped.'
          : result.outcome === 'timeout'
            ? `⏱ Stopped: it ran longer than agent.timeout (${formatDuration(this.timeoutSeconds)}).`
            : result.outcome === 'error'
              ? `⚠️ The agent failed: ${result.error ?? 'no answer'}`
              : '';
      const answer = result.answer.trim();
      const whole = [this.title, tools, answer, tail].filter(Boolean).join('\n\n');
      if (sizeOf(whole, this.cost) <= this.limit) {
        await this.message.edit(whole);
        return;
      }
      await this.message.edit(
        headWithin([this.title, tools, '📝 The answer follows.', tail].filter(Boolean).join('\n\n'), this.limit, this.cost),
      );
      const parts = splitText(answer, this.limit, this.cost);
      if (parts.length <= MAX_PARTS) {
        for (const part of parts) await this.turn.reply(part);
      } else {
        await this.turn.reply({
          text: '',
          file: { name: 'answer.md', data: Buffer.from(answer, 'utf8'), caption: `The whole answer (${answer.length} characters).` },
        });
      }
    });
  }
}

/** Progress lines kept in a progress reply. */
const PROGRESS_LINES = 10;
/** The longest progress line shown. */
const PROGRESS_LINE_CHARS = 300;

/**
 * Long work (a deploy) as one reply: a title and the last lines of its progress, edited in place
 * as lines arrive (through ThrottledMessage), then replaced by the outcome.
 */
export class ProgressReply {
  private readonly message: ThrottledMessage;
  private readonly lines: string[] = [];
  private posted: Promise<Posted | null> = Promise.resolve(null);

  constructor(
    private readonly turn: Turn,
    private readonly title: Span[],
    onError: (err: Error) => void,
  ) {
    this.message = new ThrottledMessage(turn, onError);
  }

  /** Sends the reply; resolves once it is shown. */
  async start(): Promise<void> {
    this.posted = this.message.post(this.body());
    await this.posted;
  }

  /** A line (or several) of progress. */
  line(text: string): void {
    for (const raw of text.split(/\r?\n|\r/)) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is dropped
      const line = raw.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trimEnd();
      if (line) this.lines.push(line.length > PROGRESS_LINE_CHARS ? `${line.slice(0, PROGRESS_LINE_CHARS)}…` : line);
    }
    this.lines.splice(0, Math.max(0, this.lines.length - PROGRESS_LINES));
    this.message.schedule(() => this.body());
  }

  private body(): Message {
    const { frontEnd } = this.turn;
    if (this.lines.length === 0) return { text: [...this.title, '\n⏳ …'] };
    const room = Math.min(frontEnd.blockLimit, Math.floor(frontEnd.messageLimit / 2));
    return { text: [...this.title, '\n', pre(tailWithin(this.lines.join('\n'), room, frontEnd.charCost))] };
  }

  /** Replaces the progress with the outcome (a new message when the first could not be sent). */
  finish(outcome: Message): Promise<void> {
    this.message.cancel();
    return this.message.enqueue(async () => {
      if (await this.posted) await this.message.edit(outcome);
      else await this.turn.reply(outcome);
    });
  }
}
