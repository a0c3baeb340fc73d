import { PassThrough } from 'node:stream';
import type { ListeningPort } from '../../../src/domain/listening-ports.js';
import { recordModeFor } from '../../../src/domain/recording.js';
import { BerthError } from '../../../src/errors.js';
import { type SshConnectInfo, sshConnectInfo } from '../../../src/services/access/ssh-access.js';
import { appAddress } from '../../../src/services/access/web-links.js';
import { runInVm, vmLogs } from '../../../src/services/vm/vm-exec.js';
import { vmListeningPorts } from '../../../src/services/vm/vm-ports.js';
import { listVms } from '../../../src/services/vm/vm-status.js';
import { createVm, destroyVm, restartVm, startVm, stopVm } from '../../../src/services/vm/vms.js';
import { effectiveConfig } from '../../../src/values/config-keys.js';
import { formatDuration, utcMinute } from '../../../src/values/durations.js';
import { printable } from '../../../src/values/names.js';
import { formatDiskSize, formatUsage } from '../../../src/values/sizes.js';
import type { VmView } from '../../../src/views/vm-view.js';
import { newSessionId } from '../../sessions.js';
import type { ButtonHandler, CoreAccess, Handler } from '../handler.js';
import { b, code, type Span } from '../message.js';
import { sendOutput } from '../output.js';
import { loginOf, nameOf, pickVm, usage } from '../sender.js';
import type { Posted, Turn } from '../turn.js';
import { recordingNote } from './recordings.js';

/** The longest /exec command line taken (Telegram's own message limit). */
const MAX_COMMAND = 4096;
/** The most /exec output the bot holds; the command is stopped past it. */
const EXEC_OUTPUT_LIMIT = 1024 * 1024;
/** After this long an /exec shows "running…" and is edited when done. */
const RUNNING_NOTE_MS = 1500;

function since(iso: string | null): string {
  if (!iso) return '—';
  return formatDuration(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));
}

/** A port's app address (its own origin with web.apps-domain), or null. */
export type AppAddressOf = (vm: string, port: number) => string | null;

/** A VM's listening ports and how to open each in a browser (/open PORT [vm]), with the app's own address when it has one. */
function portsLine(ports: ListeningPort[] | null | undefined, vm: string, several: boolean, address: AppAddressOf): Span[] {
  if (!ports || ports.length === 0) return [];
  const out: Span[] = ['\nPorts: '];
  ports.forEach((p, n) => {
    if (n > 0) out.push(', ');
    if (p.loopbackOnly) {
      out.push(`${p.port} (on 127.0.0.1 only: listen on 0.0.0.0 to open it)`);
      return;
    }
    const at = address(vm, p.port);
    out.push(`${p.port} → `, code(`/open ${p.port}${several ? ` ${vm}` : ''}`), ...(at ? [` (${at})`] : []));
  });
  return out;
}

export function statusText(
  vms: VmView[],
  ssh: SshConnectInfo | null,
  ports: Map<string, ListeningPort[] | null> = new Map(),
  address: AppAddressOf = () => null,
): Span[] {
  if (vms.length === 0) return ['You have no VM yet. Create one with /create'];
  const out: Span[] = [];
  vms.forEach((vm, n) => {
    const running = vm.state === 'running';
    if (n > 0) out.push('\n\n');
    out.push(b(vm.name), ` — ${running ? '🟢 running' : `⚪ ${vm.state}`}`);
    out.push(`\nPlan: ${vm.plan} · ${vm.cpu} CPU · ${vm.ram} RAM${vm.gpu ? ` · GPU ${vm.gpu}` : ''}${vm.sudo ? ' · sudo' : ''}`);
    out.push(
      `\nDisk: ${vm.diskBytes ? `home ${vm.diskUsedBytes === null ? '?' : formatUsage(vm.diskUsedBytes)} of ${formatDiskSize(vm.diskBytes)}` : 'home has no quota'}${vm.rootfsBytes ? ` · ${formatDiskSize(vm.rootfsBytes)} outside it` : ''}`,
    );
    const when = running
      ? `Up for ${since(vm.lastStartedAt)}`
      : vm.stopReason
        ? `Stopped (${vm.stopReason}) ${since(vm.lastStoppedAt)} ago`
        : '';
    if (when) out.push(`\n${when}`);
    if (vm.nextStop) out.push(`\nWill be stopped (${vm.nextStop.reason}) at ${utcMinute(vm.nextStop.at)}`);
    if (ssh) out.push('\nSSH: ', code(ssh.vms.find((v) => v.vm === vm.ref)?.command ?? ssh.command));
    out.push(...portsLine(ports.get(vm.ref), vm.name, vms.length > 1, address));
  });
  return out;
}

async function collect(
  stream: NodeJS.ReadableStream,
  demux: (o: NodeJS.WritableStream, e: NodeJS.WritableStream) => void,
): Promise<Buffer> {
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

async function create(turn: Turn, core: CoreAccess, plan: string, note?: Posted): Promise<void> {
  const login = loginOf(turn);
  const shown = note ?? (await turn.reply(`Creating your VM on plan ${plan}…`));
  if (note) await note.edit(`Creating your VM on plan ${plan}…`);
  const vm = await createVm(core.deps.ctx, { user: login, plan }, turn.sender.actor).catch(async (err) => {
    await shown.remove().catch(() => undefined);
    throw err;
  });
  await shown.edit(`✅ Your VM ${vm.name} is running (plan ${vm.plan}). /status shows it; /ssh tells how to log in.`);
}

const createHandler: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const arg = turn.args.plan?.trim().toLowerCase();
  if (arg) return create(turn, core, arg);
  const { state, identity } = turn.sender;
  const user = state.users.find((u) => u.login === login);
  const plans = identity.admin ? state.plans.map((p) => p.name) : [user?.plan ?? ''];
  // One choice is no choice: create at once.
  if (plans.length === 1 && plans[0]) return create(turn, core, plans[0]);
  await turn.reply({ text: 'Which plan?', buttons: plans.map((p) => [{ label: p, data: `create:${p}` }]) });
};

const status: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const berth = core.deps.ctx;
  const vms = await listVms(berth, { user: login, all: true });
  const cfg = effectiveConfig(turn.sender.state.config);
  // No ssh line while the gateway is off: it would not answer.
  const ssh = cfg['ssh.enabled'] ? await sshConnectInfo(berth, login) : null;
  // Listening ports (with their /open line) while the web server can open them.
  const ports = new Map<string, ListeningPort[] | null>();
  if (core.deps.web?.running()) {
    const running = vms.filter((vm) => vm.state === 'running');
    const found = await Promise.all(running.map(async (vm) => [vm.ref, await vmListeningPorts(berth, vm.ref, turn.sender.actor)] as const));
    for (const [ref, list] of found) ports.set(ref, list);
  }
  const address: AppAddressOf = (vm, port) => {
    if (!cfg['web.apps-domain']) return null;
    try {
      return appAddress(cfg, login, vm, port);
    } catch {
      return null;
    }
  };
  // A recorded person is told so with their VMs (and in /help), nothing for one who is not.
  const recorded = recordingNote(turn);
  await turn.reply({ text: [...statusText(vms, ssh, ports, address), ...(recorded.length ? ['\n\n', ...recorded] : [])] });
};

const simple =
  (verb: string, act: (ref: string, turn: Turn, core: CoreAccess) => Promise<unknown>): Handler =>
  async (turn, core) => {
    const ref = pickVm(turn.sender.state, loginOf(turn), turn.args.vm?.trim() || undefined);
    await act(ref, turn, core);
    await turn.reply(`✅ ${nameOf(ref)} ${verb}.`);
  };

export const stopVmHandler = simple('stopped', (ref, turn, core) => stopVm(core.deps.ctx, ref, turn.sender.actor, 'user'));

const destroy: Handler = async (turn) => {
  const ref = pickVm(turn.sender.state, loginOf(turn), turn.args.vm?.trim() || undefined);
  const name = nameOf(ref);
  await turn.reply({
    text: `Destroy your VM ${name}? Your home folder can be kept for a later /create.`,
    buttons: [
      [{ label: 'Destroy, keep my files', data: `destroy:${name}:keep` }],
      [{ label: 'Destroy and delete my files', data: `destroy:${name}:wipe` }],
      [{ label: 'Cancel', data: `destroy:${name}:cancel` }],
    ],
  });
};

const exec: Handler = async (turn, core) => {
  const login = loginOf(turn);
  const command = turn.args.command?.trim() ?? '';
  if (!command) throw usage('Give the command to run.', 'For example: /exec ls -la (or /exec @web ls -la for your VM web)');
  if (command.length > MAX_COMMAND) {
    throw new BerthError(
      'COMMAND_TOO_LONG',
      `That command is ${command.length} characters long; the most is ${MAX_COMMAND}.`,
      'Put long scripts in a file (/upload) and run the file.',
    );
  }
  const ref = pickVm(turn.sender.state, login, turn.args.vm?.trim() || undefined);
  const cfg = effectiveConfig(turn.sender.state.config);
  const timeout = turn.account.frontEnd === 'discord' ? cfg['discord.exec-timeout'] : cfg['telegram.exec-timeout'];
  let note: Promise<Posted | undefined> = Promise.resolve(undefined);
  const timer = setTimeout(() => {
    note = turn.reply(`⏳ running… (up to ${formatDuration(timeout)})`).then(
      (m) => m,
      () => undefined,
    );
  }, RUNNING_NOTE_MS);
  let run: Awaited<ReturnType<typeof runInVm>>;
  try {
    run = await runInVm(
      core.deps.ctx,
      ref,
      ['/bin/sh', '-c', command],
      { timeoutSeconds: timeout, mergeStderr: true, maxBytes: EXEC_OUTPUT_LIMIT, stopAtLimit: true },
      turn.sender.actor,
    );
  } finally {
    clearTimeout(timer);
  }
  const recorded = await recordExec(turn, core, ref, command, run);
  const key = turn.account.frontEnd === 'discord' ? 'discord.exec-timeout' : 'telegram.exec-timeout';
  const footer =
    (recorded ? `Recorded (${recorded}). ` : '') +
    (run.timedOut
      ? `⏱ Stopped after ${formatDuration(timeout)} (${key}).`
      : run.truncated
        ? `Stopped: more than ${EXEC_OUTPUT_LIMIT / (1024 * 1024)} MB of output (redirect it to a file and /download it).`
        : `Exit code: ${run.exitCode}`);
  await sendOutput(
    turn,
    { title: ['$ ', code(printable(command.slice(0, 100)))], output: run.stdout, footer, fileName: 'output.txt' },
    await note,
  );
};

/**
 * A recorded user's /exec output kept as a recording of its own, where the operator asked for it
 * (sessions.record-exec); its id, or null.
 */
async function recordExec(
  turn: Turn,
  core: CoreAccess,
  ref: string,
  command: string,
  run: { stdout: Buffer; exitCode: number | null },
): Promise<string | null> {
  const { state } = turn.sender;
  const user = turn.sender.identity.user;
  const config = effectiveConfig(state.config);
  const mode = recordModeFor(state, user);
  if (!core.deps.recorder || !user || mode === 'off' || !config['sessions.record-exec']) return null;
  const id = await core.deps.recorder.recordRun(
    { id: newSessionId(), login: user.login, userId: user.id, vm: ref, via: 'chat', command: command.slice(0, 500), mode, config },
    run.stdout,
    run.exitCode,
  );
  // Its audit line: who ran what where, how it ended, and the recording that holds its output.
  core.deps.log.info(
    { event: 'chat-exec', user: user.login, vm: ref, command: command.slice(0, 500), exitCode: run.exitCode, recording: id },
    'chat exec recorded',
  );
  return id;
}

const logs: Handler = async (turn, core) => {
  const arg = turn.args.lines?.trim() ?? '';
  const n = arg ? Number(arg) : 50;
  if (!Number.isInteger(n) || n < 1 || n > 5000)
    throw usage(`"${printable(arg.slice(0, 40))}" is not a line count.`, 'Give a number from 1 to 5000, e.g. /logs 100');
  const ref = pickVm(turn.sender.state, loginOf(turn), turn.args.vm?.trim() || undefined);
  const found = await vmLogs(core.deps.ctx, ref, { follow: false, tail: n }, turn.sender.actor);
  const output = await collect(found.stream, found.demux);
  await sendOutput(turn, { title: [`Last ${n} log lines of ${nameOf(ref)}:`], output, fileName: 'logs.txt' });
};

export const vmHandlers: Record<string, Handler> = {
  create: createHandler,
  status,
  start_vm: simple('started', (ref, turn, core) => startVm(core.deps.ctx, ref, turn.sender.actor)),
  stop: stopVmHandler,
  restart: simple('restarted', (ref, turn, core) => restartVm(core.deps.ctx, ref, turn.sender.actor)),
  destroy,
  exec,
  logs,
};

export const vmButtons: ButtonHandler[] = [
  {
    pattern: /^create:([a-z][a-z0-9-]{0,31})$/,
    run: async (turn, match, core) => {
      await turn.pressed?.edit({ text: 'Which plan?', buttons: [] }).catch(() => undefined);
      await create(turn, core, match[1] ?? '');
    },
  },
  {
    pattern: /^destroy:([a-z][a-z0-9-]{0,31}):(keep|wipe|cancel)$/,
    run: async (turn, match, core) => {
      const [, name = '', choice] = match;
      const shown = turn.pressed ?? (await turn.reply('…'));
      if (choice === 'cancel') {
        await shown.edit('Nothing was destroyed.');
        return;
      }
      const ref = pickVm(turn.sender.state, loginOf(turn), name);
      await shown.edit(`Destroying ${name}…`);
      await destroyVm(core.deps.ctx, ref, { keepData: choice === 'keep' }, turn.sender.actor);
      await shown.edit(`🗑 ${name} destroyed; ${choice === 'keep' ? 'your files were kept' : 'your files were deleted'}.`);
    },
  },
];
