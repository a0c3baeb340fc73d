/**
 * Every chat command, once: its name, arguments, description and audience. /help, the
 * Telegram menus, the Discord slash commands and the access rules all read this list.
 */

export interface ArgSpec {
  name: string;
  description: string;
  type?: 'string' | 'integer' | 'attachment';
  required?: boolean;
  /** Typed where nobody else sees it (a Discord form); on Telegram, the message carrying it is deleted. */
  secret?: boolean;
}

export type Audience = 'everyone' | 'user' | 'admin';

export interface CommandSpec {
  command: string;
  /** Other names for it (Telegram only: Discord lists each command once). */
  aliases?: readonly string[];
  /** The arguments as /help shows them. */
  usage?: string;
  description: string;
  audience: Audience;
  args?: readonly ArgSpec[];
  /**
   * The text after the command (Telegram) as arguments; by default the whole text goes to the
   * first argument.
   */
  fromText?: (text: string) => Record<string, string | undefined>;
}

/** `@web rest of the line` → VM `web` and the rest; anything else is all rest. */
export function vmArg(args: string): { vm?: string; rest: string } {
  const m = args.match(/^@([^\s]+)(?:\s+([\s\S]*))?$/);
  return m ? { vm: m[1], rest: (m[2] ?? '').trim() } : { rest: args };
}

const words = (text: string) => text.split(/\s+/).filter(Boolean);

/** Words into named arguments in order; the last name takes the rest of the line. */
const positional =
  (...names: string[]) =>
  (text: string): Record<string, string | undefined> => {
    const list = words(text);
    const out: Record<string, string | undefined> = {};
    names.forEach((name, n) => {
      out[name] = n === names.length - 1 ? list.slice(n).join(' ') || undefined : list[n];
    });
    // More words than names: kept to be refused by the handler.
    if (list.length > names.length && names.length > 0) out._extra = list.slice(names.length).join(' ');
    return out;
  };

/** `@vm rest`: the VM and the rest under `restName`. */
const withVm =
  (restName: string) =>
  (text: string): Record<string, string | undefined> => {
    const { vm, rest } = vmArg(text);
    return { vm, [restName]: rest || undefined };
  };

/** /applogs: lines shown when no count is given, and the most. */
export const APP_LOG_LINES = { default: 30, max: 200 } as const;

/** A /deploy word that is an option (secret:NAME, port:N, KEY=VALUE), not (part of) the source. */
export function isDeployOption(word: string): boolean {
  if (/^[a-z][a-z0-9-]{0,31}:[~/]/.test(word) || /^[a-z][a-z0-9+.-]*:\/\//i.test(word)) return false;
  return /^(secret|port):/i.test(word) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(word);
}

/** `/deploy NAME words…`: the name, the source's words, the options' words. */
function deployFromText(text: string): Record<string, string | undefined> {
  const [name, ...rest] = words(text);
  const source = rest.filter((w) => !isDeployOption(w)).join(' ');
  const options = rest.filter(isDeployOption).join(' ');
  return { name, source: source || undefined, options: options || undefined };
}

const vmOnly = { name: 'vm', description: 'Which of your VMs (your only one if left out)' } as const;

export const COMMANDS: readonly CommandSpec[] = [
  { command: 'start', description: 'Ask for access, or see where you stand', audience: 'everyone' },
  { command: 'help', description: 'The commands you can use', audience: 'everyone' },
  { command: 'myid', description: 'Your chat id and berth login', audience: 'everyone' },
  {
    command: 'link',
    usage: '[code]',
    description: 'Link your Telegram and Discord accounts: get a code here, give it on the other side',
    audience: 'everyone',
    args: [{ name: 'code', description: 'The code you got on the other side' }],
  },
  { command: 'plans', description: 'The plans (resource tiers)', audience: 'user' },
  {
    command: 'create',
    usage: '[plan]',
    description: 'Create your VM',
    audience: 'user',
    args: [{ name: 'plan', description: 'The plan (yours if left out)' }],
    fromText: (t) => ({ plan: t.trim().toLowerCase() || undefined }),
  },
  { command: 'status', description: 'Your VMs: state, plan, resources, SSH', audience: 'user' },
  { command: 'start_vm', usage: '[vm]', description: 'Start your VM', audience: 'user', args: [vmOnly] },
  {
    command: 'stop',
    usage: '[vm]',
    description: "End the agent's run in progress; else stop your VM",
    audience: 'user',
    args: [vmOnly],
  },
  { command: 'restart', usage: '[vm]', description: 'Restart your VM', audience: 'user', args: [vmOnly] },
  { command: 'destroy', usage: '[vm]', description: 'Destroy your VM (asks first)', audience: 'user', args: [vmOnly] },
  {
    command: 'exec',
    usage: '<command>',
    description: 'Run a command in your VM',
    audience: 'user',
    args: [{ name: 'command', description: 'The command line', required: true }, vmOnly],
    fromText: withVm('command'),
  },
  {
    command: 'logs',
    usage: '[n]',
    description: "Your VM's last log lines",
    audience: 'user',
    args: [{ name: 'lines', description: 'How many lines (50 if left out)', type: 'integer' }, vmOnly],
    fromText: withVm('lines'),
  },
  {
    command: 'upload',
    usage: '[dir]',
    description: 'Put a file in your VM (on Telegram: caption a document, or reply to one)',
    audience: 'user',
    args: [
      { name: 'file', description: 'The file', type: 'attachment', required: true },
      { name: 'dir', description: 'The folder in your VM (your home if left out)' },
      vmOnly,
    ],
    fromText: withVm('dir'),
  },
  {
    command: 'download',
    usage: '<path>',
    description: 'Get a file (a folder as .tar.gz) from your VM',
    audience: 'user',
    args: [{ name: 'path', description: 'The path in your VM', required: true }, vmOnly],
    fromText: withVm('path'),
  },
  { command: 'ssh', description: 'How to SSH into your VM', audience: 'user' },
  {
    command: 'web_terminal',
    aliases: ['terminal'],
    usage: '[vm]',
    description: 'A one-time link to a terminal of your VM in the browser',
    audience: 'user',
    args: [vmOnly],
    fromText: positional('vm'),
  },
  {
    command: 'open',
    usage: '<port> [vm] [strip]',
    description: 'A one-time link to the web app on a port of your VM',
    audience: 'user',
    args: [
      { name: 'port', description: 'The port your app listens on', type: 'integer', required: true },
      vmOnly,
      { name: 'strip', description: '"strip": send the app paths without their prefix (path apps only)' },
    ],
    fromText: (text) => {
      const list = words(text);
      const strip = list.length > 1 && list[list.length - 1] === 'strip';
      const [port, vm, ...extra] = strip ? list.slice(0, -1) : list;
      return { port, vm, strip: strip ? 'strip' : undefined, _extra: extra.join(' ') || undefined };
    },
  },
  {
    command: 'recordings',
    description: 'Your recorded SSH and web terminal sessions, each with a button to replay it',
    audience: 'user',
  },
  {
    command: 'replay',
    usage: '<id>',
    description: 'A one-time link to replay one of your recorded sessions in the browser',
    audience: 'user',
    args: [{ name: 'id', description: 'The recording’s id (/recordings lists yours)', required: true }],
    fromText: positional('id'),
  },
  {
    command: 'backups',
    usage: '[vm]',
    description: "Your VM's snapshots, each with buttons to restore or download it (where your plan allows)",
    audience: 'user',
    args: [vmOnly],
    fromText: positional('vm'),
  },
  {
    command: 'backup',
    usage: '[vm]',
    description: 'Back your VM’s home up now (a few an hour)',
    audience: 'user',
    args: [vmOnly],
    fromText: positional('vm'),
  },
  {
    command: 'restore',
    usage: '<id> [vm]',
    description: 'Put your home back as one of your snapshots has it (asks first)',
    audience: 'user',
    args: [{ name: 'id', description: 'The snapshot’s id (/backups lists yours)', required: true }, vmOnly],
    fromText: positional('id', 'vm'),
  },
  {
    command: 'setkey',
    usage: '<name> <key>',
    description: "Give berth a secret: your agent's API key, or one your apps use (never shown again)",
    audience: 'user',
    args: [
      { name: 'name', description: 'Its name: anthropic (the agent), or one for your apps, e.g. bot-token', required: true },
      { name: 'key', description: 'The key', required: true, secret: true },
    ],
    fromText: positional('name', 'key'),
  },
  {
    command: 'ask',
    usage: '<message>',
    description: 'Ask your coding agent (on Telegram any plain message does)',
    audience: 'user',
    args: [
      { name: 'message', description: 'What to ask', required: true },
      { name: 'file', description: 'A file for the agent', type: 'attachment' },
    ],
  },
  { command: 'agent', description: 'Your coding agent: permission, conversation, last run', audience: 'user' },
  { command: 'new', description: 'Start a new conversation with the agent', audience: 'user' },
  {
    command: 'sshkey',
    usage: '<public key>',
    description: 'Add an SSH public key',
    audience: 'user',
    args: [{ name: 'key', description: 'The line of ~/.ssh/id_ed25519.pub', required: true }],
  },
  { command: 'sshkeys', description: 'List or remove your SSH keys', audience: 'user' },
  {
    command: 'deploy',
    usage: '<name> [source] [secret:NAME] [KEY=VALUE] [port:N]',
    description: 'Deploy an app: an attached .py/.js file or archive, a git URL, or a folder of your VM',
    audience: 'user',
    args: [
      { name: 'name', description: 'The app’s name (deploying a name you have again replaces that app)', required: true },
      { name: 'source', description: 'https://… git URL [branch], or a folder of your VM: ~/bot or VM:~/bot' },
      { name: 'file', description: 'A .py or .js file, or a .tar.gz/.zip of the code', type: 'attachment' },
      { name: 'options', description: 'secret:NAME (one of your /setkey secrets), KEY=VALUE, port:N' },
    ],
    fromText: deployFromText,
  },
  { command: 'apps', description: 'Your apps, each with a button to open it', audience: 'user' },
  {
    command: 'app',
    usage: '<name>',
    description: 'One of your apps: its state, and buttons for logs, restart, stop or start, remove',
    audience: 'user',
    args: [{ name: 'name', description: 'The app', required: true }],
    fromText: positional('name'),
  },
  {
    command: 'applogs',
    usage: '<name> [n]',
    description: `An app's last output lines (${APP_LOG_LINES.default} if left out, at most ${APP_LOG_LINES.max})`,
    audience: 'user',
    args: [
      { name: 'name', description: 'The app', required: true },
      { name: 'lines', description: `How many lines (${APP_LOG_LINES.default} if left out)`, type: 'integer' },
    ],
    fromText: positional('name', 'lines'),
  },
  {
    command: 'token',
    usage: '[name]',
    description: "A token for berth's HTTP API (deploys from CI), shown once",
    audience: 'user',
    args: [{ name: 'name', description: 'What it is for, e.g. github-ci' }],
  },
  { command: 'tokens', description: 'Your API tokens, each with a button to revoke it', audience: 'user' },
  { command: 'admin_info', description: 'Config, maintenance, capacity, active VMs', audience: 'admin' },
  {
    command: 'config_gpu',
    usage: 'on|off',
    description: 'GPUs for VMs on or off',
    audience: 'admin',
    args: [{ name: 'value', description: 'on or off', required: true }],
  },
  {
    command: 'config_ram',
    usage: '<size>',
    description: 'Default VM memory, e.g. 2g',
    audience: 'admin',
    args: [{ name: 'value', description: 'A size, e.g. 2g', required: true }],
  },
  {
    command: 'config_cpu',
    usage: '<n>',
    description: 'Default VM CPUs',
    audience: 'admin',
    args: [{ name: 'value', description: 'CPUs, e.g. 2', required: true }],
  },
  {
    command: 'force_stop',
    usage: '<login|id>',
    description: "Stop a user's VMs",
    audience: 'admin',
    args: [{ name: 'user', description: 'A login or chat id', required: true }],
  },
  {
    command: 'maintenance',
    usage: 'on|off [reason]',
    description: 'Maintenance mode',
    audience: 'admin',
    args: [
      { name: 'mode', description: 'on or off', required: true },
      { name: 'reason', description: 'Why (shown to users)' },
    ],
    fromText: positional('mode', 'reason'),
  },
  {
    command: 'allow_user',
    usage: '<chat_id> [plan] [login]',
    description: 'Allow a Telegram or Discord user by id',
    audience: 'admin',
    args: [
      { name: 'id', description: 'Their Telegram or Discord id', required: true },
      { name: 'plan', description: 'Their plan' },
      { name: 'login', description: 'Their login (derived if left out)' },
    ],
    fromText: positional('id', 'plan', 'login'),
  },
  {
    command: 'remove_user',
    usage: '<login|id>',
    description: 'Remove a user',
    audience: 'admin',
    args: [{ name: 'user', description: 'A login or chat id', required: true }],
  },
  { command: 'list_allowed', description: 'Allowed users', audience: 'admin' },
  { command: 'users', description: 'All users and their status', audience: 'admin' },
  {
    command: 'approve',
    usage: '<login|id> [plan]',
    description: 'Approve a pending user',
    audience: 'admin',
    args: [
      { name: 'user', description: 'A login or chat id', required: true },
      { name: 'plan', description: 'Their plan' },
    ],
    fromText: positional('user', 'plan'),
  },
  {
    command: 'reject',
    usage: '<login|id>',
    description: 'Reject a pending user',
    audience: 'admin',
    args: [{ name: 'user', description: 'A login or chat id', required: true }],
  },
  {
    command: 'set_plan',
    usage: '<login|id> <plan>',
    description: "Change a user's plan",
    audience: 'admin',
    args: [
      { name: 'user', description: 'A login or chat id', required: true },
      { name: 'plan', description: 'The plan', required: true },
    ],
    fromText: positional('user', 'plan'),
  },
  {
    command: 'broadcast',
    usage: '<text>',
    description: 'Message every allowed user',
    audience: 'admin',
    args: [{ name: 'text', description: 'The message', required: true }],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  const n = name.toLowerCase();
  return COMMANDS.find((c) => c.command === n || c.aliases?.includes(n));
}

export function commandsFor(audience: 'pending' | 'user' | 'admin'): CommandSpec[] {
  const allowed = audience === 'admin' ? ['everyone', 'user', 'admin'] : audience === 'user' ? ['everyone', 'user'] : ['everyone'];
  return COMMANDS.filter((c) => allowed.includes(c.audience));
}

/** The text after a Telegram command as the command's arguments. */
export function argsFromText(spec: CommandSpec, text: string): Record<string, string | undefined> {
  const trimmed = text.trim();
  if (spec.fromText) return spec.fromText(trimmed);
  const first = spec.args?.find((a) => a.type !== 'attachment');
  return first ? { [first.name]: trimmed || undefined } : trimmed ? { _extra: trimmed } : {};
}
