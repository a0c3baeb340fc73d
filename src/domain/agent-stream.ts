import type { StreamRule } from '../values/agents.js';

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
const text = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? undefined : JSON.stringify(v));
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
      const session = text(take('session'));
      if (session) out.push({ kind: 'session', session });
    } else if (rule.emit === 'text') {
      const t = text(take('text'));
      if (t) out.push({ kind: 'text', text: t });
    } else if (rule.emit === 'tool') {
      out.push({ kind: 'tool', tool: text(take('tool')) ?? 'tool', detail: text(take('detail')) ?? '' });
    } else if (rule.emit === 'result') {
      const event: AgentEvent = { kind: 'result', error: take('error') === true };
      const t = text(take('text'));
      const session = text(take('session'));
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
  private rest = '';
  private dropping = false;

  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    if (this.dropping && parts.length > 0) {
      parts.shift();
      this.dropping = false;
    }
    if (this.rest.length > MAX_LINE) {
      this.rest = '';
      this.dropping = true;
    }
    return parts;
  }

  end(): string[] {
    const last = this.dropping ? '' : this.rest;
    this.rest = '';
    return last ? [last] : [];
  }
}

/** A tool use as one short line: `🔧 Bash: npm test`. */
export function toolLine(tool: string, detail: string, max = 120): string {
  const one = detail.replace(/\s+/g, ' ').trim();
  const shown = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return `🔧 ${tool}${shown ? `: ${shown}` : ''}`;
}
