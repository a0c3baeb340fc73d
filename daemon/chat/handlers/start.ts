import { requestAccountAccess } from '../../../src/services/people/chat-users.js';
import type { State, User } from '../../../src/state/schema.js';
import { planSummary, planView } from '../../../src/views/plan-view.js';
import { commandsFor } from '../commands.js';
import type { Handler } from '../handler.js';
import { type Button, b, code, type Message, type Span } from '../message.js';
import { loginOf } from '../sender.js';
import type { Turn } from '../turn.js';
import { recordingNote } from './recordings.js';

function helpLines(turn: Turn): string[] {
  const { identity } = turn.sender;
  const audience = identity.admin ? 'admin' : identity.user?.status === 'allowed' ? 'user' : 'pending';
  return commandsFor(audience).map(
    (c) => `/${c.command}${c.usage ? ` ${c.usage}` : ''} — ${c.description}${c.aliases?.length ? ` (also /${c.aliases.join(', /')})` : ''}`,
  );
}

/**
 * /help: the commands the sender may use, in as many messages as the front-end needs; first, to a
 * person whose sessions are recorded, the recording notice.
 */
async function replyHelp(turn: Turn, first: Span[] = []): Promise<void> {
  const recorded = recordingNote(turn);
  let text: Span[] = [...first, ...(recorded.length ? [...recorded, '\n\n'] : []), b('What you can do')];
  for (const line of helpLines(turn)) {
    const next = [...text, `\n${line}`];
    if (turn.frontEnd.renderedLength(next) > turn.frontEnd.messageLimit) {
      await turn.reply({ text });
      text = [line];
    } else text = next;
  }
  await turn.reply({ text });
}

/** The buttons admins answer an access request with: approve on a plan, or reject. They name the user by berth id. */
export function approvalButtons(state: State, user: User): Button[][] {
  const rows = state.plans.slice(0, 20).map((plan) => [{ label: `✅ ${plan.name}`, data: `ap:${user.id}:${plan.name}` }]);
  return [...rows, [{ label: '❌ Reject', data: `rj:${user.id}` }]];
}

export function requestMessage(state: State, user: User, turn: Turn): Message {
  const { username, id } = turn.account;
  const who = username ? `@${username}` : 'someone without a username';
  return {
    text: [
      `🙋 Access request from ${who} on ${turn.frontEnd.title} (id `,
      code(id),
      '), login ',
      code(user.login),
      '.\nApprove on a plan, or reject:',
    ],
    buttons: approvalButtons(state, user),
  };
}

const start: Handler = async (turn, core) => {
  const request = await requestAccountAccess(core.deps.ctx.store, turn.account);
  if (request.outcome === 'full') {
    core.turnedAway.note(`${turn.account.frontEnd}:${turn.account.id}`);
    await turn.reply('Sorry, the waiting list for access is full right now. Please try /start again later.');
    return;
  }
  if (request.outcome === 'created') {
    await turn.reply('Hello! Your request for access was sent to the admins. You will get a message when it is decided.');
    await core.toAdmins(requestMessage(await core.deps.ctx.store.read(), request.user, turn));
    return;
  }
  if (request.outcome === 'pending') {
    await turn.reply('Your request for access is waiting for an admin.');
    return;
  }
  if (request.outcome === 'refused') {
    await turn.reply('Sorry, you do not have access to this service.');
    return;
  }
  const state = await core.deps.ctx.store.snapshot();
  const fresh: Turn = { ...turn, sender: { ...turn.sender, state, identity: { ...turn.sender.identity, user: request.user } } };
  await replyHelp(fresh, [`Welcome, ${request.user.login}!\n\n`]);
};

const help: Handler = async (turn) => replyHelp(turn);

const myid: Handler = async (turn) => {
  const user = turn.sender.identity.user;
  const text: Span[] = [`${turn.frontEnd.title} id: `, code(turn.account.id)];
  if (user) text.push('\nLogin: ', code(user.login), ` (${user.status}, plan ${user.plan})`);
  if (turn.sender.identity.admin) text.push('\nYou are an admin.');
  await turn.reply({ text });
};

const plans: Handler = async (turn) => {
  const { state, identity } = turn.sender;
  const mine = identity.user?.plan;
  const text: Span[] = [];
  state.plans.forEach((p, n) => {
    text.push(`${n ? '\n' : ''}${p.name === mine ? '➡️' : '•'} `, b(p.name), `: ${planSummary(planView(p, state))}`);
  });
  if (mine) text.push('\n\nYour plan: ', b(mine));
  await turn.reply({ text });
};

/**
 * /link without a code: a one-time code for the sender's berth user, to give on the other
 * front-end. /link CODE: this account joins the user the code was made for.
 */
const linkAccounts: Handler = async (turn, core) => {
  const given = turn.args.code?.trim() ?? turn.args._extra?.trim();
  const { links } = core.deps;
  if (!given) {
    if (turn.sender.identity.user?.status === 'pending') {
      await turn.reply('Your request for access is waiting for an admin; link your other account once it is approved.');
      return;
    }
    const login = loginOf(turn);
    const user = turn.sender.state.users.find((u) => u.login === login);
    if (!user) return;
    const made = links.issue(user.id, turn.account.frontEnd);
    const other = turn.account.frontEnd === 'telegram' ? 'Discord' : 'Telegram';
    await turn.reply({
      text: [
        '🔗 Your code: ',
        code(made.code),
        `\nOn ${other}, send /link ${made.code} to the bot within 10 minutes: that account becomes yours too (the same login, VMs and keys). The code works once.`,
      ],
    });
    return;
  }
  const user = await links.redeem(core.deps.ctx.store, given, turn.account);
  core.deps.log.info({ user: user.login, frontEnd: turn.account.frontEnd }, 'a chat account was linked');
  await turn.reply(`✅ This ${turn.frontEnd.title} account is now ${user.login}'s. /help lists what you can do.`);
};

export const startHandlers: Record<string, Handler> = { start, help, myid, plans, link: linkAccounts };
