/** Every bot command, once: /help, the Telegram command menus and the access rules read it. */
export interface BotCommandSpec {
  command: string;
  args?: string;
  description: string;
  /** Who may use it: anyone who may write to the bot, allowed users, or admins. */
  audience: 'everyone' | 'user' | 'admin';
}

export const COMMANDS: readonly BotCommandSpec[] = [
  { command: 'start', description: 'Ask for access, or see where you stand', audience: 'everyone' },
  { command: 'help', description: 'The commands you can use', audience: 'everyone' },
  { command: 'myid', description: 'Your Telegram id and berth login', audience: 'everyone' },
  { command: 'plans', description: 'The plans (resource tiers)', audience: 'user' },
  { command: 'create', args: '[plan]', description: 'Create your VM', audience: 'user' },
  { command: 'status', description: 'Your VMs: state, plan, resources, SSH', audience: 'user' },
  { command: 'start_vm', args: '[vm]', description: 'Start your VM', audience: 'user' },
  { command: 'stop', args: '[vm]', description: "End the agent's run in progress; else stop your VM", audience: 'user' },
  { command: 'restart', args: '[vm]', description: 'Restart your VM', audience: 'user' },
  { command: 'destroy', args: '[vm]', description: 'Destroy your VM (asks first)', audience: 'user' },
  { command: 'exec', args: '<command>', description: 'Run a command in your VM', audience: 'user' },
  { command: 'logs', args: '[n]', description: "Your VM's last log lines", audience: 'user' },
  { command: 'upload', args: '[dir]', description: 'Caption a document (or reply to one) to put it in your VM', audience: 'user' },
  { command: 'download', args: '<path>', description: 'Get a file (a folder as .tar.gz) from your VM', audience: 'user' },
  { command: 'ssh', description: 'How to SSH into your VM', audience: 'user' },
  { command: 'web_terminal', args: '[vm]', description: 'A one-time link to a terminal of your VM in the browser', audience: 'user' },
  { command: 'terminal', args: '[vm]', description: 'The same as /web_terminal', audience: 'user' },
  { command: 'open', args: '<port> [vm] [strip]', description: 'A one-time link to the web app on a port of your VM', audience: 'user' },
  { command: 'setkey', args: '<name> <key>', description: "Give berth your agent's API key (the message is deleted)", audience: 'user' },
  { command: 'agent', description: 'Your coding agent: permission, conversation, last run', audience: 'user' },
  { command: 'new', description: 'Start a new conversation with the agent', audience: 'user' },
  { command: 'sshkey', args: '<public key>', description: 'Add an SSH public key', audience: 'user' },
  { command: 'sshkeys', description: 'List or remove your SSH keys', audience: 'user' },
  { command: 'admin_info', description: 'Config, maintenance, capacity, active VMs', audience: 'admin' },
  { command: 'config_gpu', args: 'on|off', description: 'GPUs for VMs on or off', audience: 'admin' },
  { command: 'config_ram', args: '<size>', description: 'Default VM memory, e.g. 2g', audience: 'admin' },
  { command: 'config_cpu', args: '<n>', description: 'Default VM CPUs', audience: 'admin' },
  { command: 'force_stop', args: '<login|id>', description: "Stop a user's VMs", audience: 'admin' },
  { command: 'maintenance', args: 'on|off [reason]', description: 'Maintenance mode', audience: 'admin' },
  { command: 'allow_user', args: '<telegram_id> [plan] [username]', description: 'Allow a Telegram user', audience: 'admin' },
  { command: 'remove_user', args: '<login|id>', description: 'Remove a user', audience: 'admin' },
  { command: 'list_allowed', description: 'Allowed users', audience: 'admin' },
  { command: 'users', description: 'All users and their status', audience: 'admin' },
  { command: 'approve', args: '<login|id> [plan]', description: 'Approve a pending user', audience: 'admin' },
  { command: 'reject', args: '<login|id>', description: 'Reject a pending user', audience: 'admin' },
  { command: 'set_plan', args: '<login|id> <plan>', description: "Change a user's plan", audience: 'admin' },
  { command: 'broadcast', args: '<text>', description: 'Message every allowed user', audience: 'admin' },
];

export function commandsFor(audience: 'pending' | 'user' | 'admin'): BotCommandSpec[] {
  const allowed = audience === 'admin' ? ['everyone', 'user', 'admin'] : audience === 'user' ? ['everyone', 'user'] : ['everyone'];
  return COMMANDS.filter((c) => allowed.includes(c.audience));
}
