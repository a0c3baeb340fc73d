import { AGENT_SESSION_PATTERN, type StreamRule } from '../values/agents.js';

/** What an agent's streamed output says, one event at a time. */
export type AgentEvent =
  | { kind: 'session'; session: string }
  | { kind: 'text'; text: string }
  | { kind: 'tool'; tool: string; detail: string }
  | {
      kind: 'result';
      text?: string;
      session?: string;
      inputTokens?: number;
      outputTokens?: number;
      costUsd?: number;
      error: boolean;
    };

/** The longest line read; longer ones are dropped (an agent that prints a megabyte of JSON on one line). */
export const MAX_LINE = 4 * 1024 * 1024;

function at(value: unknown, path: string): unknown {
  for (const alternative of path.split('|')) {
    let v: unknown = value;
    for (const key of alternative.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

const matches = (value: unknown, when: Record<string, string>) => Object.entries(when).every(([path, want]) => at(value, path) === want);
/** Text a rule takes: a string as it is, anything else as its JSON (none when that cannot be made: a hostile agent's 20 000-deep array would overflow the stack). */
const text = (v: unknown) => {
  if (typeof v === 'string' || v === undefined) return v;
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
};
/** A session id the agent gave, if it is one berth can keep (a hostile VM's agent may print anything). */
const sessionId = (v: unknown) => (typeof v === 'string' && AGENT_SESSION_PATTERN.test(v) ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function apply(rules: readonly StreamRule[], value: unknown, out: AgentEvent[]): void {
  for (const rule of rules) {
    if (!matches(value, rule.when)) continue;
    if (rule.each) {
      const list = at(value, rule.each);
      if (Array.isArray(list)) for (const item of list) apply(rule.items ?? [], item, out);
      continue;
    }
    const take = (field: keyof NonNullable<StreamRule['take']>) => {
      const path = rule.take?.[field];
      return path ? at(value, path) : undefined;
    };
    if (rule.emit === 'session') {
      const session = sessionId(take('session'));
      if (session) out.push({ kind: 'session', session });
    } else if (rule.emit === 'text') {
      const t = text(take('text'));
      if (t) out.push({ kind: 'text', text: t });
    } else if (rule.emit === 'tool') {
      out.push({ kind: 'tool', tool: text(take('tool')) ?? 'tool', detail: text(take('detail')) ?? '' });
    } else if (rule.emit === 'result') {
      const event: AgentEvent = { kind: 'result', error: take('error') === true };
      const t = text(take('text'));
      const session = sessionId(take('session'));
      const inputTokens = num(take('inputTokens'));
      const outputTokens = num(take('outputTokens'));
      const costUsd = num(take('costUsd'));
      if (t !== undefined) event.text = t;
      if (session) event.session = session;
      if (inputTokens !== undefined) event.inputTokens = inputTokens;
      if (outputTokens !== undefined) event.outputTokens = outputTokens;
      if (costUsd !== undefined) event.costUsd = costUsd;
      out.push(event);
    }
    return;
  }
}

/** The events of one line of output; a line that is not JSON, or that no rule knows, has none. */
export function parseAgentLine(rules: readonly StreamRule[], line: string): AgentEvent[] {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') || trimmed.length > MAX_LINE) return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return [];
  }
  const out: AgentEvent[] = [];
  apply(rules, value, out);
  return out;
}

/** Splits a byte stream into lines as it comes: `push` returns the complete lines so far. */
export class LineSplitter {
  /** The pieces of the line not ended yet (joined only when its newline comes: no rescans of a long line). */
  private rest: string[] = [];
  private restLength = 0;
  private dropping = false;

  push(chunk: string): string[] {
    const lines: string[] = [];
    let from = 0;
    for (let at = chunk.indexOf('\n'); at !== -1; at = chunk.indexOf('\n', from)) {
      const line = this.rest.join('') + chunk.slice(from, at);
      this.rest = [];
      this.restLength = 0;
      if (this.dropping) this.dropping = false;
      else lines.push(line);
      from = at + 1;
    }
    const tail = chunk.slice(from);
    if (tail && !this.dropping) {
      this.rest.push(tail);
      this.restLength += tail.length;
      if (this.restLength > MAX_LINE) {
        this.rest = [];
        this.restLength = 0;
        this.dropping = true;
      }
    }
    return lines;
  }

  end(): string[] {
    const last = this.dropping ? '' : this.rest.join('');
    this.rest = [];
    this.restLength = 0;
    return last ? [last] : [];
  }
}

/** A tool use as one short line: `🔧 Bash: npm test`. */
export function toolLine(tool: string, detail: string, max = 120): string {
  const one = detail.replace(/\s+/g, ' ').trim();
  const shown = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return `🔧 ${tool}${shown ? `: ${shown}` : ''}`;
}
