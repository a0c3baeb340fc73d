import { invalidInput } from '../errors.js';
import { printable } from './names.js';

/** An agent's conversation (session) id as berth keeps and resumes it; anything else an agent prints as one is ignored. */
export const AGENT_SESSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The coding agents berth can run in a VM, described by data: how to start one, how to continue a
 * conversation, how its streamed output reads, which variables carry its key and API address, and
 * which of its own flags each plan permission maps to. A second agent is a new entry here (and an
 * image that has it, `LABEL dev.berth.agents=NAME`), not new code.
 */

/** What a plan lets the agent do in the VM; `off`: no agent at all (the default). */
export const AGENT_PERMISSIONS = ['off', 'read-only', 'edit', 'full'] as const;
export type AgentPermission = (typeof AGENT_PERMISSIONS)[number];

export function parseAgentPermission(input: string): AgentPermission {
  const text = input.trim().toLowerCase();
  if (!(AGENT_PERMISSIONS as readonly string[]).includes(text)) {
    throw invalidInput(
      'INVALID_AGENT_PERMISSION',
      `"${printable(input)}" is not an agent permission.`,
      `Use one of ${AGENT_PERMISSIONS.join(', ')}.`,
    );
  }
  return text as AgentPermission;
}

/**
 * One rule of a stream: a line (or an element of a list in it) whose fields equal `when` is an
 * event of kind `emit`, its fields read from the paths in `take` (`a.b`, alternatives `a|b`).
 * `each`: the rules in `items` apply to every element of the list at that path instead.
 */
export interface StreamRule {
  when: Record<string, string>;
  emit?: 'session' | 'text' | 'tool' | 'result';
  take?: Partial<Record<'session' | 'text' | 'tool' | 'detail' | 'inputTokens' | 'outputTokens' | 'costUsd' | 'error', string>>;
  each?: string;
  items?: StreamRule[];
}

export interface AgentSpec {
  name: string;
  /** Shown to people. */
  title: string;
  /**
   * The command line. `{prompt}` is replaced by the prompt; `{resume}` by `resume` (with
   * `{session}` replaced) when a conversation goes on, else by nothing; `{permissions}` by
   * the plan's flags.
   */
  argv: readonly string[];
  resume: readonly string[];
  permissions: Record<Exclude<AgentPermission, 'off'>, readonly string[]>;
  /** Its output: one JSON object per line, read by these rules. */
  stream: readonly StreamRule[];
  /** The user secret that holds its key (`/setkey NAME`, `berth user secret set LOGIN NAME`). */
  secret: string;
  /** The variable that carries the key to its process. */
  keyEnv: string;
  /** The variable that carries its API's base URL (config agent.api-base-url), and the vendor's. */
  baseUrlEnv: string;
  defaultBaseUrl: string;
  /** Set for every run: no telemetry, no updates, nothing but the API. */
  env: Record<string, string>;
  /** What a key looks like, roughly: a check that catches pasting the wrong thing. */
  keyPattern: RegExp;
}

export const AGENTS: readonly AgentSpec[] = [
  {
    name: 'claude',
    title: 'Claude Code',
    // The prompt last, after `--`: a message that starts with `-` is text, not one of the CLI's options
    // (unknown option, or one that lifts the plan's permission mode).
    argv: ['claude', '{permissions}', '{resume}', '--output-format', 'stream-json', '--verbose', '-p', '--', '{prompt}'],
    resume: ['--resume', '{session}'],
    permissions: {
      'read-only': ['--permission-mode', 'plan'],
      edit: ['--permission-mode', 'acceptEdits'],
      // Refused by the CLI as root; berth runs it as the VM's user (uid 1000).
      full: ['--dangerously-skip-permissions'],
    },
    stream: [
      { when: { type: 'system', subtype: 'init' }, emit: 'session', take: { session: 'session_id' } },
      {
        when: { type: 'assistant' },
        each: 'message.content',
        items: [
          { when: { type: 'text' }, emit: 'text', take: { text: 'text' } },
          {
            when: { type: 'tool_use' },
            emit: 'tool',
            take: { tool: 'name', detail: 'input.command|input.file_path|input.path|input.pattern|input.url|input.description' },
          },
        ],
      },
      {
        when: { type: 'result' },
        emit: 'result',
        take: {
          text: 'result',
          session: 'session_id',
          inputTokens: 'usage.input_tokens',
          outputTokens: 'usage.output_tokens',
          costUsd: 'total_cost_usd',
          error: 'is_error',
        },
      },
    ],
    secret: 'anthropic',
    keyEnv: 'ANTHROPIC_API_KEY',
    baseUrlEnv: 'ANTHROPIC_BASE_URL',
    defaultBaseUrl: 'https://api.anthropic.com',
    env: { DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
    keyPattern: /^[A-Za-z0-9_-]{8,300}$/,
  },
];

export function findAgent(name: string): AgentSpec | undefined {
  return AGENTS.find((a) => a.name === name);
}

/** The agents an image's label names (`dev.berth.agents=claude,codex`) that berth knows. */
export function agentsOfLabel(label: string | undefined): AgentSpec[] {
  if (!label) return [];
  return label
    .split(',')
    .map((s) => s.trim())
    .flatMap((name) => {
      const agent = findAgent(name);
      return agent ? [agent] : [];
    });
}

/** The secrets any agent reads: what `/setkey` and `user secret set` take. */
export const SECRET_NAMES = [...new Set(AGENTS.map((a) => a.secret))];

/** The command line for one run. */
export function agentArgv(
  agent: AgentSpec,
  options: { prompt: string; session?: string; permission: Exclude<AgentPermission, 'off'> },
): string[] {
  return agent.argv.flatMap((part) => {
    if (part === '{permissions}') return [...agent.permissions[options.permission]];
    if (part === '{resume}') return options.session ? agent.resume.map((r) => (r === '{session}' ? (options.session as string) : r)) : [];
    return [part === '{prompt}' ? options.prompt : part];
  });
}
