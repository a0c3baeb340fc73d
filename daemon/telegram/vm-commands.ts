import { type Composer, InlineKeyboard } from 'grammy';
import type { ListeningPort } from '../../src/domain/listening-ports.js';
import { checkVmName, ownVm, vmRef } from '../../src/domain/lookups.js';
import { BerthError } from '../../src/errors.js';
import { type SshConnectInfo, sshConnectInfo } from '../../src/services/access/ssh-access.js';
import { appAddress } from '../../src/services/access/web-links.js';
import { runInVm, vmLogs } from '../../src/services/vm/vm-exec.js';
import { vmListeningPorts } from '../../src/services/vm/vm-ports.js';
import { listVms } from '../../src/services/vm/vm-status.js';
import { createVm, destroyVm, restartVm, startVm, stopVm } from '../../src/services/vm/vms.js';
import type { State, Vm } from '../../src/state/schema.js';
import { effectiveConfig } from '../../src/values/config-keys.js';
import { formatDuration, utcMinute } from '../../src/values/durations.js';
import { printable } from '../../src/values/names.js';
import { formatDiskSize, formatUsage } from '../../src/values/sizes.js';
import type { VmView } from '../../src/views/vm-view.js';
import { argsOf, type BotContext, type BotDeps, loginOf } from './bot-context.js';
import { code, escapeHtml, sendOutput } from './replies.js';

/** The longest /exec command line taken (Telegram's own message limit). */
const MAX_COMMAND = 4096;
/** The most /exec output the bot holds; the command is stopped past it. */
const EXEC_OUTPUT_LIMIT = 1024 * 1024;
/** After this long an /exec shows "running…" and is edited when done. */
const RUNNING_NOTE_MS = 1500;

/** `@web rest of the line` → VM `web` and the rest; anything else is all rest. */
export function vmArg(args: string): { vm?: string; rest: string } {
  const m = args.match(/^@([^\s]+)(?:\s+([\s\S]*))?$/);
  return m ? { vm: m[1], rest: (m[2] ?? '').trim() } : { rest: args };
}

/** The sender's VM: the one named, else their only one. Never another user's: the name is theirs. */
export function pickOwnVm(state: State, login: string, name?: string, pick: (n: string) => string = (n) => `/stop ${n}`): Vm {
  return ownVm(state, login, name === undefined ? undefined : checkVmName(name.toLowerCase()), {
    pick,
    none: 'Create one with /create',
  });
}

export const pickVm = (state: State, login: string, name?: string): string => vmRef(pickOwnVm(state, login, name));

const nameOf = (ref: string) => ref.slice(ref.indexOf('/') + 1);

function since(iso: string | null): string {
  if (!iso) return '—';
  return formatDuration(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));
}

/** A port's app address (its own origin with web.apps-domain), or null. */
export type AppAddressOf = (vm: string, port: number) => string | null;

/** A VM's listening ports and how to open each in a browser (/open PORT [vm]), with the app's own address when it has one. */
function portsLine(ports: ListeningPort[] | null | undefined, vm: string, several: boolean, address: AppAddressOf): string {
  if (!ports || ports.length === 0) return '';
  const open = (p: number) => {
    const at = address(vm, p);
    return `${code(`/open ${p}${several ? ` ${vm}` : ''}`)}${at ? ` (${escapeHtml(at)})` : ''}`;
  };
  const items = ports.map((p) =>
    p.loopbackOnly ? `${p.port} (on 127.0.0.1 only: listen on 0.0.0.0 to open it)` : `${p.port} → ${open(p.port)}`,
  );
  return `Ports: ${items.join(', ')}`;
}

export function statusText(
  vms: VmView[],
  ssh: SshConnectInfo | null,
  ports: Map<string, ListeningPort[] | null> = new Map(),
  address: AppAddressOf = () => null,
): string {
  if (vms.length === 0) return 'You have no VM yet. Create one with /create';
  return vms
    .map((vm) => {
      const running = vm.state === 'running';
      const lines = [
        `<b>${escapeHtml(vm.name)}</b> — ${running ? '🟢 running' : `⚪ ${escapeHtml(vm.state)}`}`,
        `Plan: ${escapeHtml(vm.plan)} · ${vm.cpu} CPU · ${escapeHtml(vm.ram)} RAM${vm.gpu ? ` · GPU ${vm.gpu}` : ''}${vm.sudo ? ' · sudo' : ''}`,
        `Disk: ${vm.diskBytes ? `home ${vm.diskUsedBytes === null ? '?' : formatUsage(vm.diskUsedBytes)} of ${formatDiskSize(vm.diskBytes)}` : 'home has no quota'}${vm.rootfsBytes ? ` · ${formatDiskSize(vm.rootfsBytes)} outside it` : ''}`,
        running
          ? `Up for ${since(vm.lastStartedAt)}`
          : vm.stopReason
            ? `Stopped (${escapeHtml(vm.stopReason)}) ${since(vm.lastStoppedAt)} ago`
            : '',
        vm.nextStop ? `Will be stopped (${escapeHtml(vm.nextStop.reason)}) at ${escapeHtml(utcMinute(vm.nextStop.at))}` : '',
        ssh ? `SSH: ${code(ssh.vms.find((v) => v.vm === vm.ref)?.command ?? ssh.command)}` : '',
        portsLine(ports.get(vm.ref), vm.name, vms.length > 1, address),
      ];
      return lines.filter(Boolean).join('\n');
    })
    .join('\n\n');
}

async function collect(
  stream: NodeJS.ReadableStream,
  demux: (o: NodeJS.WritableStream, e: NodeJS.WritableStream) => void,
): Promise<Buffer> {
  const { PassThrough } = await import('node:stream');
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  let size = 0;
  out.on('data', (c: Buffer) => {
    // The end matters most in logs: keep the last EXEC_OUTPUT_LIMIT bytes.
    chunks.push(c);
    size += c.length;
    while (size > EXEC_OUTPUT_LIMIT && chunks.length > 1) size -= chunks.shift()?.length ?? 0;
  });
  demux(out, out);
  await new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', resolve);
  });
  return Buffer.concat(chunks);
}

export function vmCommands(bot: Composer<BotContext>, deps: BotDeps): void {
  const { ctx: berth } = deps;

  const create = async (ctx: BotContext, plan: string) => {
    const login = loginOf(ctx);
    const note = await ctx.reply(`Creating your VM on plan ${plan}…`);
    const vm = await createVm(berth, { user: login, plan }, ctx.berth.actor).catch(async (err) => {
      await ctx.api.deleteMessage(note.chat.id, note.message_id).catch(() => undefined);
      throw err;
    });
    await ctx.api.editMessageText(
      note.chat.id,
      note.message_id,
      `✅ Your VM ${vm.name} is running (plan ${vm.plan}). /status shows it; /ssh tells how to log in.`,
    );
  };

  bot.command('create', async (ctx) => {
    const login = loginOf(ctx);
    const arg = argsOf(ctx);
    if (arg) return create(ctx, arg.toLowerCase());
    const user = ctx.berth.state.users.find((u) => u.login === login);
    const plans = ctx.berth.identity.admin ? ctx.berth.state.plans.map((p) => p.name) : [user?.plan ?? ''];
    // One choice is no choice: create at once.
    if (plans.length === 1 && plans[0]) return create(ctx, plans[0]);
    const keyboard = new InlineKeyboard();
    for (const p of plans) keyboard.text(p, `create:${p}`).row();
    await ctx.reply('Which plan?', { reply_markup: keyboard });
  });

  bot.callbackQuery(/^create:([a-z][a-z0-9-]{0,31})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageReplyMarkup().catch(() => undefined);
    await create(ctx, ctx.match[1] ?? '');
  });

  bot.command('status', async (ctx) => {
    const login = loginOf(ctx);
    const vms = await listVms(berth, { user: login, all: true });
    // No ssh line while the gateway is off: it would not answer.
    const ssh = effectiveConfig(ctx.berth.state.config)['ssh.enabled'] ? await sshConnectInfo(berth, login) : null;
    // Listening ports (with their /open line) while the web server can open them.
    const ports = new Map<string, ListeningPort[] | null>();
    if (deps.web?.running()) {
      const running = vms.filter((vm) => vm.state === 'running');
      const found = await Promise.all(running.map(async (vm) => [vm.ref, await vmListeningPorts(berth, vm.ref, ctx.berth.actor)] as const));
      for (const [ref, list] of found) ports.set(ref, list);
    }
    const cfg = effectiveConfig(ctx.berth.state.config);
    const address: AppAddressOf = (vm, port) => {
      if (!cfg['web.apps-domain']) return null;
      try {
        return appAddress(cfg, login, vm, port);
      } catch {
        return null;
      }
    };
    await ctx.reply(statusText(vms, ssh, ports, address), { parse_mode: 'HTML' });
  });

  const simple = (command: string, verb: string, act: (ref: string, ctx: BotContext) => Promise<unknown>) =>
    bot.command(command, async (ctx) => {
      const ref = pickVm(ctx.berth.state, loginOf(ctx), argsOf(ctx) || undefined);
      await act(ref, ctx);
      await ctx.reply(`✅ ${nameOf(ref)} ${verb}.`);
    });
  simple('start_vm', 'started', (ref, ctx) => startVm(berth, ref, ctx.berth.actor));
  simple('stop', 'stopped', (ref, ctx) => stopVm(berth, ref, ctx.berth.actor, 'user'));
  simple('restart', 'restarted', (ref, ctx) => restartVm(berth, ref, ctx.berth.actor));

  bot.command('destroy', async (ctx) => {
    const ref = pickVm(ctx.berth.state, loginOf(ctx), argsOf(ctx) || undefined);
    const name = nameOf(ref);
    const keyboard = new InlineKeyboard()
      .text('Destroy, keep my files', `destroy:${name}:keep`)
      .row()
      .text('Destroy and delete my files', `destroy:${name}:wipe`)
      .row()
      .text('Cancel', `destroy:${name}:cancel`);
    await ctx.reply(`Destroy your VM ${name}? Your home folder can be kept for a later /create.`, { reply_markup: keyboard });
  });

  bot.callbackQuery(/^destroy:([a-z][a-z0-9-]{0,31}):(keep|wipe|cancel)$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const [, name = '', choice] = ctx.match;
    if (choice === 'cancel') {
      await ctx.editMessageText('Nothing was destroyed.');
      return;
    }
    const ref = pickVm(ctx.berth.state, loginOf(ctx), name);
    await ctx.editMessageText(`Destroying ${name}…`);
    await destroyVm(berth, ref, { keepData: choice === 'keep' }, ctx.berth.actor);
    await ctx.editMessageText(`🗑 ${name} destroyed; ${choice === 'keep' ? 'your files were kept' : 'your files were deleted'}.`);
  });

  bot.command('exec', async (ctx) => {
    const login = loginOf(ctx);
    const { vm, rest: command } = vmArg(argsOf(ctx));
    if (!command)
      throw new BerthError('USAGE', 'Give the command to run.', 'For example: /exec ls -la (or /exec @web ls -la for your VM web)');
    if (command.length > MAX_COMMAND) {
      throw new BerthError(
        'COMMAND_TOO_LONG',
        `That command is ${command.length} characters long; the most is ${MAX_COMMAND}.`,
        'Put long scripts in a file (/upload) and run the file.',
      );
    }
    const ref = pickVm(ctx.berth.state, login, vm);
    const timeout = effectiveConfig(ctx.berth.state.config)['telegram.exec-timeout'];
    let note: Promise<number | undefined> = Promise.resolve(undefined);
    const timer = setTimeout(() => {
      note = ctx.reply(`⏳ running… (up to ${formatDuration(timeout)})`).then(
        (m) => m.message_id,
        () => undefined,
      );
    }, RUNNING_NOTE_MS);
    let run: Awaited<ReturnType<typeof runInVm>>;
    try {
      run = await runInVm(
        berth,
        ref,
        ['/bin/sh', '-c', command],
        { timeoutSeconds: timeout, mergeStderr: true, maxBytes: EXEC_OUTPUT_LIMIT, stopAtLimit: true },
        ctx.berth.actor,
      );
    } finally {
      clearTimeout(timer);
    }
    const footer = run.timedOut
      ? `⏱ Stopped after ${formatDuration(timeout)} (telegram.exec-timeout).`
      : run.truncated
        ? `Stopped: more than ${EXEC_OUTPUT_LIMIT / (1024 * 1024)} MB of output (redirect it to a file and /download it).`
        : `Exit code: ${run.exitCode}`;
    await sendOutput(
      ctx,
      { title: `$ ${code(printable(command.slice(0, 100)))}`, output: run.stdout, footer, fileName: 'output.txt' },
      await note,
    );
  });

  bot.command('logs', async (ctx) => {
    const { vm, rest: arg } = vmArg(argsOf(ctx));
    const n = arg ? Number(arg) : 50;
    if (!Number.isInteger(n) || n < 1 || n > 5000)
      throw new BerthError(
        'USAGE',
        `"${printable(arg.slice(0, 40))}" is not a line count.`,
        'Give a number from 1 to 5000, e.g. /logs 100',
      );
    const ref = pickVm(ctx.berth.state, loginOf(ctx), vm);
    const logs = await vmLogs(berth, ref, { follow: false, tail: n }, ctx.berth.actor);
    const output = await collect(logs.stream, logs.demux);
    await sendOutput(ctx, { title: `Last ${n} log lines of ${escapeHtml(nameOf(ref))}:`, output, fileName: 'logs.txt' });
  });
}
