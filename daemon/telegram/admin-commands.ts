import type { Composer } from 'grammy';
import { OPERATOR } from '../../src/domain/actor.js';
import { vmRef } from '../../src/domain/lookups.js';
import { maintenanceWindow } from '../../src/domain/maintenance-window.js';
import { BerthError } from '../../src/errors.js';
import { hostSummary } from '../../src/services/engine/host.js';
import { enterMaintenance, leaveMaintenance } from '../../src/services/nodes/maintenance.js';
import { allowTelegramUser, findUserByLoginOrId } from '../../src/services/people/telegram-users.js';
import { approveUser, rejectUser, removeUser, setUser } from '../../src/services/people/users.js';
import { getConfig, setConfig } from '../../src/services/setup/config.js';
import { type BulkFailure, stopVms } from '../../src/services/vm/vm-bulk.js';
import { engineContainers, listVms } from '../../src/services/vm/vm-status.js';
import type { User } from '../../src/state/schema.js';
import { printable } from '../../src/values/names.js';
import { formatSize } from '../../src/values/sizes.js';
import { adminLabel, argsOf, type BotContext, type BotDeps } from './bot-context.js';
import { code, escapeHtml, replyLong } from './replies.js';

function words(ctx: BotContext, min: number, usage: string): string[] {
  const list = argsOf(ctx).split(/\s+/).filter(Boolean);
  if (list.length < min) throw new BerthError('USAGE', 'Missing arguments.', `Usage: ${usage}`);
  return list;
}

/** The VMs an action on many could not act on, with why (the first 20; the others counted). */
function failureLines(failed: BulkFailure[], verb: string): string[] {
  if (failed.length === 0) return [];
  const shown = failed.slice(0, 20).map((f) => `• ${f.vm}: ${f.error}`);
  return [`⚠️ ${failed.length} VM(s) could not be ${verb}:`, ...shown, ...(failed.length > 20 ? [`and ${failed.length - 20} more`] : [])];
}

function userLine(u: User): string {
  return `${u.login} · ${u.status} · ${u.role} · plan ${u.plan}${u.telegramId ? ` · id ${u.telegramId}` : ''}${u.telegramBlocked ? ' · blocked the bot' : ''}`;
}

/** Admin commands; registered on a composer that only admins' updates reach. */
export function adminCommands(admin: Composer<BotContext>, deps: BotDeps): void {
  const { ctx: berth } = deps;
  const { store } = berth;
  // Admin commands act on any user's VMs (the sender is an admin, checked on every update).
  const actor = OPERATOR;

  admin.command('admin_info', async (ctx) => {
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
    const text = [
      '<b>Config</b>',
      ...config.map((c) => `${c.key}: ${code(c.value)}${c.source === 'default' ? ' (default)' : ''}`),
      '',
      `<b>Maintenance</b>: ${m.on ? `ON${maintenanceWindow(m, escapeHtml)}` : 'off'}`,
      `<b>Host</b> ${escapeHtml(host.name)} (Docker ${escapeHtml(host.engineVersion)}): ${host.reserved.cpus}/${host.cpus} CPUs and ${formatSize(host.reserved.memoryBytes)}/${formatSize(host.memoryBytes)} memory reserved by running VMs`,
      `<b>Users</b>: ${state.users.filter((u) => u.status === 'allowed').length} allowed, ${state.users.filter((u) => u.status === 'pending').length} pending`,
      `<b>Active VMs</b> (${active.length}): ${escapeHtml(shown) || 'none'}`,
      `<b>On the engine</b>: ${engineRunning} running, ${state.vms.length - engineRunning} not`,
    ].join('\n');
    await ctx.reply(text, { parse_mode: 'HTML' });
  });

  const configCommand = (command: string, key: string, usage: string) =>
    admin.command(command, async (ctx) => {
      const [value = ''] = words(ctx, 1, usage);
      const entry = await setConfig(store, key, value);
      await ctx.reply(`✅ ${entry.key} is now ${entry.value}.`);
    });
  configCommand('config_gpu', 'gpu', '/config_gpu on|off');
  configCommand('config_ram', 'ram', '/config_ram 2g');
  configCommand('config_cpu', 'cpu', '/config_cpu 2');

  admin.command('force_stop', async (ctx) => {
    const [ref = ''] = words(ctx, 1, '/force_stop <login|telegram id>');
    const user = findUserByLoginOrId(await store.read(), ref);
    const running = (await listVms(berth, { user: user.login })).filter((vm) => vm.state === 'running');
    if (running.length === 0) {
      await ctx.reply(`${user.login} has no running VM.`);
      return;
    }
    const result = await stopVms(
      berth,
      running.map((vm) => ({ ref: vm.ref, reason: 'operator' as const })),
      actor,
    );
    await replyLong(
      ctx,
      [...(result.changed.length ? [`🛑 Stopped ${result.changed.join(', ')}.`] : []), ...failureLines(result.failed, 'stopped')].join(
        '\n',
      ),
    );
  });

  admin.command('maintenance', async (ctx) => {
    const [mode = '', ...reason] = words(ctx, 1, '/maintenance on|off [reason]');
    if (mode === 'on') {
      const result = await enterMaintenance(berth, { reason: reason.join(' ') });
      await replyLong(
        ctx,
        [`🛠 Maintenance is on; ${result.changed.length} VM(s) stopped.`, ...failureLines(result.failed, 'stopped')].join('\n'),
      );
    } else if (mode === 'off') {
      const result = await leaveMaintenance(berth, { restore: true });
      await replyLong(
        ctx,
        [`✅ Maintenance is off; ${result.changed.length} VM(s) started again.`, ...failureLines(result.failed, 'started')].join('\n'),
      );
    } else {
      throw new BerthError('USAGE', `"${printable(mode.slice(0, 20))}" is not on or off.`, 'Usage: /maintenance on|off [reason]');
    }
  });

  admin.command('allow_user', async (ctx) => {
    const [id = '', plan, login] = words(ctx, 1, '/allow_user <telegram_id> [plan] [login]');
    if (!/^\d{1,15}$/.test(id)) {
      throw new BerthError(
        'USAGE',
        `"${printable(id.slice(0, 20))}" is not a Telegram id.`,
        'Telegram ids are numbers; the user gets theirs with /myid.',
      );
    }
    const { user, created } = await allowTelegramUser(store, Number(id), { plan, login });
    await ctx.reply(`✅ ${created ? 'Added' : 'Allowed'} ${user.login} (id ${id}) on plan ${user.plan}.`);
  });

  admin.command('remove_user', async (ctx) => {
    const [ref = ''] = words(ctx, 1, '/remove_user <login|telegram id>');
    const { user: removed, homes } = await removeUser(berth, findUserByLoginOrId(await store.read(), ref).login, {
      homes: 'keep',
      by: adminLabel(ctx),
    });
    await ctx.reply(
      `🗑 Removed ${removed.login}.${homes.length ? ` ${homes.length} kept home(s) stay on the host without an owner (berth home list).` : ''}`,
    );
  });

  const list = (command: string, filter: (u: User) => boolean, empty: string) =>
    admin.command(command, async (ctx) => {
      const users = (await store.read()).users.filter(filter);
      await replyLong(ctx, users.length ? users.map(userLine).join('\n') : empty);
    });
  list('list_allowed', (u) => u.status === 'allowed', 'No allowed users.');
  list('users', () => true, 'No users.');

  admin.command('approve', async (ctx) => {
    const [ref = '', plan] = words(ctx, 1, '/approve <login|telegram id> [plan]');
    const user = await approveUser(berth, findUserByLoginOrId(await store.read(), ref).login, plan);
    await ctx.reply(`✅ Approved ${user.login} on plan ${user.plan}.`);
  });

  admin.command('reject', async (ctx) => {
    const [ref = ''] = words(ctx, 1, '/reject <login|telegram id>');
    const user = await rejectUser(berth, findUserByLoginOrId(await store.read(), ref).login, adminLabel(ctx));
    await ctx.reply(`❌ Rejected ${user.login}.`);
  });

  admin.command('set_plan', async (ctx) => {
    const [ref = '', plan = ''] = words(ctx, 2, '/set_plan <login|telegram id> <plan>');
    const user = await setUser(store, findUserByLoginOrId(await store.read(), ref).login, { plan });
    await ctx.reply(`✅ ${user.login} is now on plan ${user.plan} (running VMs keep their resources until rebuilt).`);
  });

  admin.command('broadcast', async (ctx) => {
    const text = argsOf(ctx);
    if (!text) throw new BerthError('USAGE', 'Nothing to send.', 'Usage: /broadcast <text>');
    if (text.length > 4000) throw new BerthError('USAGE', `That is ${text.length} characters; a broadcast is at most 4000.`, 'Shorten it.');
    await berth.notifier.send({ kind: 'broadcast', to: 'all', text: `📣 ${text}` });
    await ctx.reply('📣 Sent to every allowed user.');
  });

  // Buttons name the requester by Telegram id, and act only while the request is still pending.
  const decide = (approve: boolean) => async (ctx: BotContext) => {
    await ctx.answerCallbackQuery();
    const [, id = '', plan] = typeof ctx.match === 'string' ? [] : (ctx.match ?? []);
    const user = findUserByLoginOrId(await store.read(), id);
    const by = ctx.from?.username ? `@${ctx.from.username}` : String(ctx.from?.id);
    if (user.status !== 'pending') {
      await ctx.editMessageText(`${user.login} was already decided: ${user.status}.`);
      return;
    }
    const decided = approve ? await approveUser(berth, user.login, plan) : await rejectUser(berth, user.login);
    await ctx.editMessageText(
      approve ? `✅ ${decided.login} approved on plan ${decided.plan} by ${by}.` : `❌ ${decided.login} rejected by ${by}.`,
    );
  };
  admin.callbackQuery(/^ap:(\d{1,15}):([a-z][a-z0-9-]{0,31})$/, decide(true));
  admin.callbackQuery(/^rj:(\d{1,15})$/, decide(false));
}
