import { type AgentEvent, toolLine } from '../../src/domain/agent-stream.js';
import type { AgentRunResult, RunObserver } from '../../src/services/agents/agent-runs.js';
import { formatDuration } from '../../src/values/durations.js';
import { headWithin, sizeOf, splitText, tailWithin } from './message.js';
import type { Posted, Turn } from './turn.js';

/** Tool lines kept in a streamed reply. */
const TOOL_LINES = 12;
/** An answer longer than this many messages comes as a file instead. */
const MAX_PARTS = 3;

/**
 * One reply that follows a run: sent when the run starts, edited as text and tool uses arrive
 * (at most once per the front-end's edit interval, so a chatty agent never makes a message
 * storm), and edited a last time with the answer in full — split into more messages, or
 * attached as a file, when it does not fit.
 */
export class LiveReply implements RunObserver {
  private posted: Promise<Posted | null> | null = null;
  private tools: string[] = [];
  private text = '';
  private title = '🤖 Agent';
  private lastEdit = 0;
  private timer: NodeJS.Timeout | null = null;
  private shown = '';
  private chain: Promise<void> = Promise.resolve();
  private readonly limit: number;
  private readonly interval: number;
  /** What a character costs against the limit once rendered. */
  private readonly cost: (c: string) => number;

  constructor(
    private readonly turn: Turn,
    private readonly onError: (err: Error) => void,
    private readonly timeoutSeconds: number,
  ) {
    this.limit = turn.frontEnd.messageLimit;
    this.cost = turn.frontEnd.textCost;
    this.interval = turn.frontEnd.editIntervalMs;
  }

  started(info: Parameters<NonNullable<RunObserver['started']>>[0]): void {
    this.title = `🤖 ${info.agent.title}${info.resumed ? '' : ' (new conversation)'}${info.startedVm ? ` · started your VM ${info.vm}` : ''}`;
    this.posted = this.turn.reply(`${this.title}\n⏳ Working…`).catch((err: Error) => {
      this.onError(err);
      return null;
    });
    this.lastEdit = Date.now();
  }

  event(event: AgentEvent): void {
    if (event.kind === 'tool') this.tools = [...this.tools, toolLine(event.tool, event.detail)].slice(-TOOL_LINES);
    else if (event.kind === 'text') this.text = event.text;
    else return;
    this.schedule();
  }

  private body(final: boolean): string {
    const tools = this.tools.join('\n');
    const room = Math.floor(this.limit * 0.6);
    const text = sizeOf(this.text, this.cost) > room ? `…${tailWithin(this.text, room - 1, this.cost)}` : this.text;
    return headWithin([this.title, tools, text, final ? '' : '⏳ Working…'].filter(Boolean).join('\n\n'), this.limit, this.cost);
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastEdit + this.interval - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.enqueue(() => this.edit(this.body(false)));
    }, wait);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work).catch((err: Error) => this.onError(err));
    return this.chain;
  }

  private async edit(text: string): Promise<void> {
    const posted = await this.posted;
    if (!posted || text === this.shown) return;
    const wait = this.lastEdit + this.interval - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastEdit = Date.now();
    this.shown = text;
    await posted.edit(text).catch((err: Error) => {
      if (!/not modified/i.test(err.message)) throw err;
    });
  }

  finished(result: AgentRunResult): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.enqueue(async () => {
      if (!this.posted) {
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
        await this.edit(whole);
        return;
      }
      await this.edit(headWithin([this.title, tools, '📝 The answer follows.', tail].filter(Boolean).join('\n\n'), this.limit, this.cost));
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
