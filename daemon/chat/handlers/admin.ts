import { OPERATOR } from '../../../src/domain/actor.js';
import { vmRef } from '../../../src/domain/lookups.js';
import { maintenanceWindow } from '../../../src/domain/maintenance-window.js';
import { BerthError } from '../../../src/errors.js';
import { hostSummary } from '../../../src/services/engine/host.js';
import { enterMaintenance, leaveMaintenance } from '../../../src/services/nodes/maintenance.js';
import { allowAccount, type FrontEnd, findUserByRef } from '../../../src/services/people/chat-users.js';
import { approveUser, rejectUser, removeUser, setUser } from '../../../src/services/people/users.js';
import { getConfig, setConfig } from '../../../src/services/setup/config.js';
import { type BulkFailure, stopVms } from '../../../src/services/vm/vm-bulk.js';
import { engineContainers, listVms } from '../../../src/services/vm/vm-status.js';
import type { User } from '../../../src/state/schema.js';
import { printable } from '../../../src/values/names.js';
import { formatSize } from '../../../src/values/sizes.js';
import type { ButtonHandler, CoreAccess, Handler } from '../handler.js';
import { b, code, type Span, splitText } from '../message.js';
import { adminLabel, usage } from '../sender.js';
import type { Turn } from '../turn.js';

/** Plain text of any length: split into several messages. */
export async function replyLong(turn: Turn, text: string): Promise<void> {
  for (const part of splitText(text, turn.frontEnd.messageLimit, turn.frontEnd.textCost)) await turn.reply(part);
}

function need(turn: Turn, names: string[], example: string): string[] {
  const values = names.map((n) => turn.args[n]?.trim() ?? '');
  if (values.some((v) => !v)) throw usage('Missing arguments.', `Usage: ${example}`);
  return values;
}

/** The VMs an action on many could not act on, with why (the first 20; the others counted). */
function failureLines(failed: BulkFailure[], verb: string): string[] {
  if (failed.length === 0) return [];
  const shown = failed.slice(0, 20).map((f) => `• ${f.vm}: ${f.error}`);
  return [`⚠️ ${failed.length} VM(s) could not be ${verb}:`, ...shown, ...(failed.length > 20 ? [`and ${failed.length - 20} more`] : [])];
}

function userLine(u: User): string {
  const ids = [u.telegramId ? `telegram ${u.telegramId}` : '', u.discordId ? `discord ${u.discordId}` : ''].filter(Boolean).join(', ');
  const blocked = [u.telegramBlocked ? 'Telegram' : '', u.discordBlocked ? 'Discord' : ''].filter(Boolean).join(' and ');
  return `${u.login} · ${u.status} · ${u.role} · plan ${u.plan}${ids ? ` · id ${ids}` : ''}${blocked ? ` · blocked the bot on ${blocked}` : ''}`;
}

/** A chat id as an account: Discord ids are 17–20 digits, Telegram's at most 16. */
function accountFromId(id: string): { frontEnd: FrontEnd; id: string } {
  if (/^\d{17,20}$/.test(id)) return { frontEnd: 'discord', id };
  if (/^\d{1,16}$/.test(id)) return { frontEnd: 'telegram', id };
  throw new BerthError(
    'USAGE',
    `"${printable(id.slice(0, 20))}" is not a Telegram or Discord id.`,
    'Chat ids are numbers; the user gets theirs with /myid.',
  );
}

// Admin commands act on any user's VMs (the sender is an admin, checked on every turn).
const actor = OPERATOR;

const adminInfo: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const { store } = berth;
  const state = await store.read();
  // The engine is asked once for all the VMs (a filtered list), whatever their number.
  const [host, containers] = await Promise.all([hostSummary(berth), berth.runtime().then((runtime) => engineContainers(berth, runtime))]);
  const known = new Set(state.vms.map((vm) => vm.containerId).filter(Boolean));
  const engineRunning = containers.filter((c) => known.has(c.id) && c.state === 'running').length;
  const m = state.maintenance;
  const config = await Promise.all(
    ['ram', 'cpu', 'gpu', 'default-plan', 'max-vms', 'idle-timeout', 'image'].map((k) => getConfig(store, k)),
  );
  const active = state.vms.filter((vm) => vm.desired === 'running').map(vmRef);
  const shown = active.slice(0, 40).join(', ') + (active.length > 40 ? ` and ${active.length - 40} more` : '');
  const text: Span[] = [b('Config')];
  for (const c of config) text.push(`\n${c.key}: `, code(c.value), c.source === 'default' ? ' (default)' : '');
  text.push(
    '\n\n',
    b('Maintenance'),
    `: ${m.on ? `ON${maintenanceWindow(m, (s) => s)}` : 'off'}`,
    '\n',
    b('Host'),
    ` ${host.name} (Docker ${host.engineVersion}): ${host.reserved.cpus}/${host.cpus} CPUs and ${formatSize(host.reserved.memoryBytes)}/${formatSize(host.memoryBytes)} memory reserved by running VMs`,
    '\n',
    b('Users'),
    `: ${state.users.filter((u) => u.status === 'allowed').length} allowed, ${state.users.filter((u) => u.status === 'pending').length} pending`,
    '\n',
    b('Active VMs'),
    ` (${active.length}): ${shown || 'none'}`,
    '\n',
    b('On the engine'),
    `: ${engineRunning} running, ${state.vms.length - engineRunning} not`,
  );
  await turn.reply({ text });
};

const configCommand =
  (key: string, example: string): Handler =>
  async (turn, core) => {
    const [value = ''] = need(turn, ['value'], example);
    const entry = await setConfig(core.deps.ctx.store, key, value);
    await turn.reply(`✅ ${entry.key} is now ${entry.value}.`);
  };

const forceStop: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const [ref = ''] = need(turn, ['user'], '/force_stop <login|id>');
  const user = findUserByRef(await berth.store.read(), ref);
  const running = (await listVms(berth, { user: user.login })).filter((vm) => vm.state === 'running');
  if (running.length === 0) {
    await turn.reply(`${user.login} has no running VM.`);
    return;
  }
  const result = await stopVms(
    berth,
    running.map((vm) => ({ ref: vm.ref, reason: 'operator' as const })),
    actor,
  );
  await replyLong(
    turn,
    [...(result.changed.length ? [`🛑 Stopped ${result.changed.join(', ')}.`] : []), ...failureLines(result.failed, 'stopped')].join('\n'),
  );
};

const maintenance: Handler = async (turn, core) => {
  const [mode = ''] = need(turn, ['mode'], '/maintenance on|off [reason]');
  if (mode === 'on') {
    const result = await enterMaintenance(core.deps.ctx, { reason: turn.args.reason?.trim() ?? '' });
    await replyLong(
      turn,
      [`🛠 Maintenance is on; ${result.changed.length} VM(s) stopped.`, ...failureLines(result.failed, 'stopped')].join('\n'),
    );
  } else if (mode === 'off') {
    const result = await leaveMaintenance(core.deps.ctx, { restore: true });
    await replyLong(
      turn,
      [`✅ Maintenance is off; ${result.changed.length} VM(s) started again.`, ...failureLines(result.failed, 'started')].join('\n'),
    );
  } else {
    throw usage(`"${printable(mode.slice(0, 20))}" is not on or off.`, 'Usage: /maintenance on|off [reason]');
  }
};

const allowUserHandler: Handler = async (turn, core) => {
  const [id = ''] = need(turn, ['id'], '/allow_user <chat id> [plan] [login]');
  const account = accountFromId(id);
  const { user, created } = await allowAccount(core.deps.ctx.store, account, {
    plan: turn.args.plan?.trim() || undefined,
    login: turn.args.login?.trim() || undefined,
  });
  await turn.reply(`✅ ${created ? 'Added' : 'Allowed'} ${user.login} (${account.frontEnd} id ${id}) on plan ${user.plan}.`);
};

const removeUserHandler: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const [ref = ''] = need(turn, ['user'], '/remove_user <login|id>');
  const { user: removed, homes } = await removeUser(berth, findUserByRef(await berth.store.read(), ref).login, {
    homes: 'keep',
    by: adminLabel(turn),
  });
  await turn.reply(
    `🗑 Removed ${removed.login}.${homes.length ? ` ${homes.length} kept home(s) stay on the host without an owner (berth home list).` : ''}`,
  );
};

const list =
  (filter: (u: User) => boolean, empty: string): Handler =>
  async (turn, core) => {
    const users = (await core.deps.ctx.store.read()).users.filter(filter);
    await replyLong(turn, users.length ? users.map(userLine).join('\n') : empty);
  };

const approve: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const [ref = ''] = need(turn, ['user'], '/approve <login|id> [plan]');
  const user = await approveUser(berth, findUserByRef(await berth.store.read(), ref).login, turn.args.plan?.trim() || undefined);
  await turn.reply(`✅ Approved ${user.login} on plan ${user.plan}.`);
};

const reject: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const [ref = ''] = need(turn, ['user'], '/reject <login|id>');
  const user = await rejectUser(berth, findUserByRef(await berth.store.read(), ref).login, adminLabel(turn));
  await turn.reply(`❌ Rejected ${user.login}.`);
};

const setPlan: Handler = async (turn, core) => {
  const berth = core.deps.ctx;
  const [ref = '', plan = ''] = need(turn, ['user', 'plan'], '/set_plan <login|id> <plan>');
  const user = await setUser(berth.store, findUserByRef(await berth.store.read(), ref).login, { plan });
  await turn.reply(`✅ ${user.login} is now on plan ${user.plan} (running VMs keep their resources until rebuilt).`);
};

const broadcast: Handler = async (turn, core) => {
  const text = turn.args.text?.trim();
  if (!text) throw usage('Nothing to send.', 'Usage: /broadcast <text>');
  if (text.length > 1900)
    throw usage(`That is ${text.length} characters; a broadcast is at most 1900 (it must fit a Discord message).`, 'Shorten it.');
  await core.deps.ctx.notifier.send({ kind: 'broadcast', to: 'all', text: `📣 ${text}` });
  await turn.reply('📣 Sent to every allowed user.');
};

export const adminHandlers: Record<string, Handler> = {
  admin_info: adminInfo,
  config_gpu: configCommand('gpu', '/config_gpu on|off'),
  config_ram: configCommand('ram', '/config_ram 2g'),
  config_cpu: configCommand('cpu', '/config_cpu 2'),
  force_stop: forceStop,
  maintenance,
  allow_user: allowUserHandler,
  remove_user: removeUserHandler,
  list_allowed: list((u) => u.status === 'allowed', 'No allowed users.'),
  users: list(() => true, 'No users.'),
  approve,
  reject,
  set_plan: setPlan,
  broadcast,
};

/** Buttons name the requester by berth user id, and act only while the request is still pending. */
const decide =
  (approveIt: boolean) =>
  async (turn: Turn, match: RegExpMatchArray, core: CoreAccess): Promise<void> => {
    const berth = core.deps.ctx;
    const [, id = '', plan] = match;
    const user = (await berth.store.read()).users.find((u) => u.id === id);
    const shown = turn.pressed ?? (await turn.reply('…'));
    if (!user) {
      await shown.edit('That request is gone: the user was removed.');
      return;
    }
    const by = turn.account.username ? `@${turn.account.username}` : turn.account.id;
    if (user.status !== 'pending') {
      await shown.edit(`${user.login} was already decided: ${user.status}.`);
      return;
    }
    const decided = approveIt ? await approveUser(berth, user.login, plan) : await rejectUser(berth, user.login);
    await shown.edit(
      approveIt ? `✅ ${decided.login} approved on plan ${decided.plan} by ${by}.` : `❌ ${decided.login} rejected by ${by}.`,
    );
  };

export const adminButtons: ButtonHandler[] = [
  { pattern: /^ap:([0-9a-f]{12}):([a-z][a-z0-9-]{0,31})$/, admin: true, run: decide(true) },
  { pattern: /^rj:([0-9a-f]{12})$/, admin: true, run: decide(false) },
];
