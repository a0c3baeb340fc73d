import { type AgentRuns, planAgentPermission, workdirInHome } from '../../../src/services/agents/agent-runs.js';
import { setUserSecret } from '../../../src/services/secrets/user-secrets.js';
import { uploadToVm } from '../../../src/services/vm/vm-files.js';
import { effectiveConfig } from '../../../src/values/config-keys.js';
import { formatDuration } from '../../../src/values/durations.js';
import type { CoreAccess, Handler } from '../handler.js';
import { LiveReply } from '../live-reply.js';
import { allowedLogin, loginOf, pickVm, usage } from '../sender.js';
import type { Incoming, Turn } from '../turn.js';
import { fetchIncoming } from './files.js';
import { stopVmHandler } from './vm.js';

function since(iso: string): string {
  return formatDuration(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));
}

async function ask(turn: Turn, core: CoreAccess, runs: AgentRuns, prompt: string): Promise<void> {
  const login = loginOf(turn);
  const observer = new LiveReply(
    turn,
    (err) => core.deps.log.warn({ err: err.message, frontEnd: turn.account.frontEnd }, 'an agent reply could not be sent'),
    effectiveConfig(turn.sender.state.config)['agent.timeout'],
  );
  const how = await runs.submit(login, prompt, turn.sender.actor, observer);
  if (how === 'queued') await turn.reply('⏳ The agent is still working: this message is next, once the current run ends (/stop ends it).');
}

/** A file for the agent: into its work directory, named in the next prompt. */
async function saveForAgent(turn: Turn, core: CoreAccess, runs: AgentRuns, login: string, file: Incoming): Promise<string> {
  const user = turn.sender.state.users.find((u) => u.login === login);
  const data = await fetchIncoming(turn, file);
  const ref = pickVm(turn.sender.state, login, user?.conversation?.vm);
  const workdir = workdirInHome(effectiveConfig(turn.sender.state.config)['agent.workdir']);
  const saved = await uploadToVm(core.deps.ctx, ref, { dir: workdir, name: file.name, data }, turn.sender.actor);
  runs.addFile(login, saved.path);
  return saved.path;
}

/**
 * A message that is not a command: a prompt for the agent; a file sent while a conversation is
 * open goes into the work directory (its caption, when there is one, is the prompt). False when
 * it is none of these.
 */
export async function agentMessage(turn: Turn, core: CoreAccess, runs: AgentRuns, text: string, file?: Incoming): Promise<boolean> {
  if (file) {
    const login = allowedLogin(turn);
    const user = turn.sender.state.users.find((u) => u.login === login);
    if (!login || (!user?.conversation && !runs.current(login))) return false;
    const path = await saveForAgent(turn, core, runs, login, file);
    if (text.trim()) {
      await turn.reply(`📎 Saved ${path} for the agent.`);
      await ask(turn, core, runs, text.trim());
    } else await turn.reply(`📎 Saved ${path}; the agent hears of it with your next message.`);
    return true;
  }
  if (!text.trim()) return false;
  await ask(turn, core, runs, text);
  return true;
}

export function agentHandlers(runs: AgentRuns): Record<string, Handler> {
  const setkey: Handler = async (turn, core) => {
    const login = loginOf(turn);
    const name = turn.args.name?.trim() ?? '';
    const value = turn.args.key?.trim() ?? '';
    const hidden =
      turn.secretVia === 'deleted'
        ? 'I deleted your message.'
        : turn.secretVia === 'kept'
          ? 'Delete your message: I could not.'
          : 'Nobody else saw it.';
    if (!name || !value || turn.args._extra || /\s/.test(value)) {
      throw usage(
        turn.account.frontEnd === 'discord'
          ? 'Give the name and type the key into the form: /setkey name:anthropic'
          : 'Send the name and the key: /setkey anthropic YOUR_KEY',
        turn.secretVia === 'deleted'
          ? 'Your message was deleted.'
          : turn.secretVia === 'kept'
            ? 'Delete your message: it could not be deleted for you.'
            : 'Try again.',
      );
    }
    const saved = await setUserSecret(core.deps.ctx.store, login, name, value);
    await turn.reply(`🔑 Your ${saved.name} key is saved, encrypted; only your agent's runs and the apps that name it get it. ${hidden}`);
  };

  const newConversation: Handler = async (turn) => {
    const login = loginOf(turn);
    const old = await runs.newConversation(login);
    const running = runs.current(login) ? ' The run in progress goes on (/stop ends it).' : '';
    await turn.reply(`🆕 ${old ? 'Conversation closed.' : 'No conversation was open.'} Your next message starts a new one.${running}`);
  };

  // /stop ends a run in progress; without one (or with a VM named) it stops the VM.
  const stop: Handler = async (turn, core) => {
    const login = allowedLogin(turn);
    if (!login || !runs.current(login) || turn.args.vm?.trim()) return stopVmHandler(turn, core);
    runs.stop(login);
    await turn.reply('⏹ Stopping the agent (interrupted; anything it left running is ended).');
  };

  const agent: Handler = async (turn) => {
    const login = loginOf(turn);
    const state = turn.sender.state;
    const user = state.users.find((u) => u.login === login);
    const permission = planAgentPermission(state, login);
    const current = runs.current(login);
    const last = runs.last(login);
    const conv = user?.conversation;
    const lines = [
      `🤖 Agent permission on your plan: ${permission}${permission === 'off' ? ' (no agent)' : ''}`,
      `Key: ${(user?.secrets ?? []).length ? (user?.secrets ?? []).map((s) => `${s.name} (set ${s.setAt.slice(0, 10)})`).join(', ') : 'none — /setkey anthropic KEY'}`,
      conv
        ? `Conversation: ${conv.agent} in ${conv.vm}, since ${since(conv.startedAt)} ago (last ${since(conv.updatedAt)} ago). /new starts another.`
        : 'Conversation: none; your next message starts one.',
      current
        ? `Running now: ${current.agent} in ${current.vm} for ${since(new Date(current.startedAt).toISOString())}${runs.isQueued(login) ? ', one message waiting' : ''}. /stop ends it.`
        : 'Running now: nothing.',
      last
        ? `Last run: ${last.outcome}, ${Math.round(last.durationMs / 100) / 10} s, ${since(last.startedAt)} ago${last.inputTokens !== undefined ? `, ${last.inputTokens} in / ${last.outputTokens ?? 0} out tokens` : ''}.`
        : 'Last run: none since the daemon started.',
    ];
    await turn.reply(lines.join('\n'));
  };

  const askHandler: Handler = async (turn, core) => {
    const text = turn.args.message?.trim() ?? '';
    const login = loginOf(turn);
    if (turn.attachment) {
      const path = await saveForAgent(turn, core, runs, login, turn.attachment);
      await turn.reply(`📎 Saved ${path} for the agent.`);
    }
    if (!text) throw usage('Give your message for the agent.', 'For example: /ask what does main.py do?');
    await ask(turn, core, runs, text);
  };

  return { setkey, new: newConversation, stop, agent, ask: askHandler };
}
