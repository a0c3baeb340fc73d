import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LineSplitter, parseAgentLine, toolLine } from '../../src/domain/agent-stream.js';
import { addPlan, setPlan } from '../../src/services/people/plans.js';
import { allowUser } from '../../src/services/people/users.js';
import { listUserSecrets, revealUserSecret, setUserSecret, unsetUserSecret } from '../../src/services/secrets/user-secrets.js';
import { initHome } from '../../src/services/setup/init.js';
import { StateStore } from '../../src/state/store.js';
import {
  AGENT_PERMISSIONS,
  AGENTS,
  type AgentSpec,
  agentArgv,
  agentsOfLabel,
  findAgent,
  parseAgentPermission,
} from '../../src/values/agents.js';
import { CONFIG_KEYS } from '../../src/values/config-keys.js';
import { tempHome } from '../helpers/cli.js';

const claude = findAgent('claude') as AgentSpec;

describe('the agent table', () => {
  it('describes Claude Code: its command line, how a conversation goes on, its permissions per plan', () => {
    expect(agentArgv(claude, { prompt: 'make hello.txt', permission: 'full' })).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--output-format',
      'stream-json',
      '--verbose',
      '-p',
      '--',
      'make hello.txt',
    ]);
    expect(agentArgv(claude, { prompt: 'go on', permission: 'read-only', session: 'abc-123' })).toEqual([
      'claude',
      '--permission-mode',
      'plan',
      '--resume',
      'abc-123',
      '--output-format',
      'stream-json',
      '--verbose',
      '-p',
      '--',
      'go on',
    ]);
    expect(agentArgv(claude, { prompt: 'x', permission: 'edit' }).slice(1, 3)).toEqual(['--permission-mode', 'acceptEdits']);
    expect(claude).toMatchObject({ keyEnv: 'ANTHROPIC_API_KEY', baseUrlEnv: 'ANTHROPIC_BASE_URL', secret: 'anthropic' });
  });

  it('passes a prompt as one argument, exactly as written (no shell, no $-patterns), last, after --', () => {
    const prompt = `rm -rf / "$HOME" $& \`id\` '; echo`;
    expect(agentArgv(claude, { prompt, permission: 'full' })).toContain(prompt);
    // A message that looks like an option stays the prompt (the CLI takes what follows -- as text).
    const flag = agentArgv(claude, { prompt: '--dangerously-skip-permissions', permission: 'read-only' });
    expect(flag.slice(-2)).toEqual(['--', '--dangerously-skip-permissions']);
    expect(flag.indexOf('--dangerously-skip-permissions')).toBe(flag.length - 1);
  });

  it('gives every agent a flag set for every permission but off', () => {
    for (const agent of AGENTS) {
      for (const p of AGENT_PERMISSIONS.filter((x) => x !== 'off')) expect(agent.permissions[p]).toBeDefined();
    }
    expect(parseAgentPermission(' Edit ')).toBe('edit');
    expect(() => parseAgentPermission('root')).toThrow(/not an agent permission/);
  });

  it("reads an image's label, ignoring agents berth does not know", () => {
    expect(agentsOfLabel('claude').map((a) => a.name)).toEqual(['claude']);
    expect(agentsOfLabel(' unknown , claude').map((a) => a.name)).toEqual(['claude']);
    expect(agentsOfLabel(undefined)).toEqual([]);
  });

  it('checks agent.workdir: a directory under the home, never outside it', () => {
    const parse = CONFIG_KEYS['agent.workdir'].parse;
    expect(parse('~/work')).toBe('~/work');
    expect(parse('projects/app/')).toBe('~/projects/app');
    expect(parse('~')).toBe('~');
    for (const bad of ['/etc', '~/../root', 'a/../../b', 'x;rm', '~/$(id)'])
      expect(() => parse(bad)).toThrow(/not a directory in the user's home/);
  });
});

/** Claude Code's stream-json as the CLI printed it against the stand-in (abridged). */
const CLAUDE_STREAM = [
  '{"type":"system","subtype":"init","cwd":"/home/alice/work","session_id":"6f1c2d3e-aaaa-bbbb-cccc-0123456789ab","tools":["Bash","Edit"],"model":"claude-stand-in"}',
  '{"type":"assistant","message":{"id":"msg_0","content":[{"type":"tool_use","id":"toolu_0","name":"Bash","input":{"command":"echo hi > hello.txt","description":"Make the file"}}]},"session_id":"6f1c2d3e-aaaa-bbbb-cccc-0123456789ab"}',
  '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0","type":"tool_result","content":"","is_error":false}]}}',
  '{"type":"assistant","message":{"id":"msg_1","content":[{"type":"text","text":"Done: hello.txt holds hi."}]}}',
  '{"type":"result","subtype":"success","is_error":false,"duration_ms":2311,"num_turns":2,"result":"Done: hello.txt holds hi.","session_id":"6f1c2d3e-aaaa-bbbb-cccc-0123456789ab","total_cost_usd":0.0012,"usage":{"input_tokens":24,"output_tokens":29}}',
];

describe('the stream parser', () => {
  it("reads Claude Code's stream-json: the session, tool uses, text and the result with tokens", () => {
    const events = CLAUDE_STREAM.flatMap((line) => parseAgentLine(claude.stream, line));
    expect(events).toEqual([
      { kind: 'session', session: '6f1c2d3e-aaaa-bbbb-cccc-0123456789ab' },
      { kind: 'tool', tool: 'Bash', detail: 'echo hi > hello.txt' },
      { kind: 'text', text: 'Done: hello.txt holds hi.' },
      {
        kind: 'result',
        error: false,
        text: 'Done: hello.txt holds hi.',
        session: '6f1c2d3e-aaaa-bbbb-cccc-0123456789ab',
        inputTokens: 24,
        outputTokens: 29,
        costUsd: 0.0012,
      },
    ]);
  });

  it('ignores what is not JSON or that no rule knows, and shows tool uses as one short line', () => {
    expect(parseAgentLine(claude.stream, 'Warning: something on stdout')).toEqual([]);
    expect(parseAgentLine(claude.stream, '{"type":"assistant",')).toEqual([]);
    expect(parseAgentLine(claude.stream, '{"type":"stream_event"}')).toEqual([]);
    // A session id berth could not keep (a hostile VM's agent prints what it likes) is no session.
    expect(parseAgentLine(claude.stream, `{"type":"system","subtype":"init","session_id":"${'s'.repeat(200)}"}`)).toEqual([]);
    expect(parseAgentLine(claude.stream, '{"type":"system","subtype":"init","session_id":{"x":1}}')).toEqual([]);
    expect(parseAgentLine(claude.stream, '{"type":"system","subtype":"init","session_id":"../x"}')).toEqual([]);
    // Parsed fine (JSON.parse does not recurse), but too deep to show again: no text, no throw.
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const line = `{"type":"assistant","message":{"content":[{"type":"text","text":${deep}},{"type":"text","text":"after"}]}}`;
    expect(parseAgentLine(claude.stream, line)).toEqual([{ kind: 'text', text: 'after' }]);
    expect(toolLine('Bash', 'npm test')).toBe('🔧 Bash: npm test');
    expect(toolLine('Bash', 'a\n  b')).toBe('🔧 Bash: a b');
    expect(toolLine('Read', 'x'.repeat(500)).length).toBeLessThanOrEqual(130);
  });

  it('splits output into lines whatever the chunks', () => {
    const text = `${CLAUDE_STREAM.join('\n')}\n`;
    const split = new LineSplitter();
    const lines: string[] = [];
    for (let i = 0; i < text.length; i += 7) lines.push(...split.push(text.slice(i, i + 7)));
    lines.push(...split.end());
    expect(lines).toEqual(CLAUDE_STREAM);
  });

  it('drops a line over its bound however it arrives, and keeps the lines around it', () => {
    const split = new LineSplitter();
    const out: string[] = [];
    out.push(...split.push('{"a":1}\n{"big":"'));
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 160; i++) out.push(...split.push(chunk)); // 10 MB of one line
    out.push(...split.push('"}\n{"b":2}\n{"c"'), ...split.push(':3}'), ...split.end());
    expect(out).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('reads a second agent from its entry alone: a Codex-like JSON stream, no new code', () => {
    const codex: AgentSpec = {
      ...claude,
      name: 'codex',
      stream: [
        { when: { type: 'thread.started' }, emit: 'session', take: { session: 'thread_id' } },
        {
          when: { type: 'item.started', 'item.type': 'command_execution' },
          emit: 'tool',
          take: { tool: 'item.type', detail: 'item.command' },
        },
        { when: { type: 'item.completed', 'item.type': 'agent_message' }, emit: 'text', take: { text: 'item.text' } },
        {
          when: { type: 'turn.completed' },
          emit: 'result',
          take: { inputTokens: 'usage.input_tokens', outputTokens: 'usage.output_tokens' },
        },
      ],
    };
    const lines = [
      '{"type":"thread.started","thread_id":"t-1"}',
      '{"type":"item.started","item":{"id":"i1","type":"command_execution","command":"ls"}}',
      '{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"Two files."}}',
      '{"type":"turn.completed","usage":{"input_tokens":5,"output_tokens":3}}',
    ];
    expect(lines.flatMap((l) => parseAgentLine(codex.stream, l))).toEqual([
      { kind: 'session', session: 't-1' },
      { kind: 'tool', tool: 'command_execution', detail: 'ls' },
      { kind: 'text', text: 'Two files.' },
      { kind: 'result', error: false, inputTokens: 5, outputTokens: 3 },
    ]);
  });
});

describe("users' secrets", () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let store: StateStore;
  const KEY = 'sk-ant-unit-0123456789abcdef';

  beforeEach(async () => {
    ({ home, cleanup } = await tempHome());
    store = new StateStore(home);
    await initHome(store);
    await allowUser(store, 'alice');
    await allowUser(store, 'bob');
  });
  afterEach(() => cleanup());

  it('are stored encrypted (never in the state in clear), listed by name and date, revealed only to the run', async () => {
    const saved = await setUserSecret(store, 'alice', 'anthropic', `  ${KEY}\n`);
    expect(saved).toEqual({ name: 'anthropic', setAt: expect.any(String) });
    const text = await readFile(join(home, 'state.json'), 'utf8');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(Buffer.from(KEY).toString('base64'));
    expect(await listUserSecrets(store, 'alice')).toEqual([saved]);
    expect(await revealUserSecret(store, await store.read(), 'alice', 'anthropic')).toBe(KEY);
    // The data key sits where the bot token would: the keychain, or secrets.json readable by the operator only.
    const file = await stat(join(home, 'secrets.json')).catch(() => null);
    if (file) expect(file.mode & 0o777).toBe(0o600);
  });

  it("are bound to their user: another user's record with the same ciphertext does not decrypt", async () => {
    await setUserSecret(store, 'alice', 'anthropic', KEY);
    await store.transact((state) => {
      const alice = state.users.find((u) => u.login === 'alice');
      const bob = state.users.find((u) => u.login === 'bob');
      if (bob && alice) bob.secrets = alice.secrets;
    });
    await expect(revealUserSecret(store, await store.read(), 'bob', 'anthropic')).rejects.toThrow(/cannot be read/);
  });

  it('refuse unknown names and unusable values without echoing them, changing nothing', async () => {
    const before = await readFile(join(home, 'state.json'), 'utf8');
    await expect(setUserSecret(store, 'alice', 'Git Hub!', KEY)).rejects.toThrow(/not a usable secret name/);
    const bad = await setUserSecret(store, 'alice', 'anthropic', 'two words here').catch((e: Error) => e);
    expect(String(bad)).not.toContain('two words');
    await expect(setUserSecret(store, 'nobody', 'anthropic', KEY)).rejects.toThrow(/no user/);
    expect(await readFile(join(home, 'state.json'), 'utf8')).toBe(before);
  });

  it('never make a new data key while secrets exist whose key cannot be read now (it would lose them all)', async () => {
    await setUserSecret(store, 'alice', 'anthropic', KEY);
    const secrets = join(home, 'secrets.json');
    // No Secret Service answers on these machines: the data key is in secrets.json.
    const kept = await readFile(secrets, 'utf8');
    await writeFile(secrets, '{}');
    const before = await readFile(join(home, 'state.json'), 'utf8');
    await expect(setUserSecret(store, 'bob', 'anthropic', KEY)).rejects.toMatchObject({ code: 'SECRETS_UNREADABLE' });
    expect(await readFile(join(home, 'state.json'), 'utf8')).toBe(before);
    expect(await readFile(secrets, 'utf8')).toBe('{}');
    // With its key back, alice's secret reads as before.
    await writeFile(secrets, kept);
    expect(await revealUserSecret(store, await store.read(), 'alice', 'anthropic')).toBe(KEY);
  });

  it('are replaced by a new value and forgotten by unset', async () => {
    await setUserSecret(store, 'alice', 'anthropic', KEY);
    await setUserSecret(store, 'alice', 'anthropic', `${KEY}-2`);
    expect(await listUserSecrets(store, 'alice')).toHaveLength(1);
    expect(await revealUserSecret(store, await store.read(), 'alice', 'anthropic')).toBe(`${KEY}-2`);
    await unsetUserSecret(store, 'alice', 'anthropic');
    expect(await listUserSecrets(store, 'alice')).toEqual([]);
    await expect(unsetUserSecret(store, 'alice', 'anthropic')).rejects.toThrow(/has no anthropic secret/);
  });
});

describe('plans and agents', () => {
  it('a plan has no agent until given one', async () => {
    const { home, cleanup } = await tempHome();
    try {
      const store = new StateStore(home);
      await initHome(store);
      expect((await addPlan(store, 'lab', {})).agent).toBeUndefined();
      expect((await setPlan(store, 'lab', { agent: 'read-only' })).agent).toBe('read-only');
      await expect(setPlan(store, 'lab', { agent: 'sudo' })).rejects.toThrow(/not an agent permission/);
    } finally {
      await cleanup();
    }
  });
});
