/**
 * Every error code berth gives a person, one list per area: code → what it means for whoever sees
 * it (what happened, what to do). `BerthError` takes only these codes (tsc refuses another), the
 * web server's JSON refusals too; docs/errors.md is generated from these lists (`npm run docs`), and
 * test/unit/error-codes.test.ts fails on a code listed twice or used nowhere.
 */
import { ACCESS_ERRORS } from './access.js';
import { AGENTS_ERRORS } from './agents.js';
import { APPS_ERRORS } from './apps.js';
import { BACKUPS_ERRORS } from './backups.js';
import { CLI_ERRORS } from './cli.js';
import { CONFIG_ERRORS } from './config.js';
import { DISCORD_ERRORS } from './discord.js';
import { FILES_ERRORS } from './files.js';
import { HOMES_ERRORS } from './homes.js';
import { IMAGES_ERRORS } from './images.js';
import { NETWORK_ERRORS } from './network.js';
import { NODES_ERRORS } from './nodes.js';
import { PEOPLE_ERRORS } from './people.js';
import { SETUP_ERRORS } from './setup.js';
import { TELEGRAM_ERRORS } from './telegram.js';
import { VM_ERRORS } from './vm.js';

export interface ErrorArea {
  /** The heading in docs/errors.md. */
  title: string;
  /** The file under src/errors/ that holds the list. */
  file: string;
  codes: Readonly<Record<string, string>>;
}

/** In the order docs/errors.md shows them. */
export const ERROR_AREAS = [
  { title: 'Set-up, state and the daemon', file: 'setup.ts', codes: SETUP_ERRORS },
  { title: 'Using the CLI, the TUI and the bot', file: 'cli.ts', codes: CLI_ERRORS },
  { title: 'Configuration values', file: 'config.ts', codes: CONFIG_ERRORS },
  { title: 'Users, plans and SSH keys', file: 'people.ts', codes: PEOPLE_ERRORS },
  { title: 'VMs', file: 'vm.ts', codes: VM_ERRORS },
  { title: 'Homes and disk quotas', file: 'homes.ts', codes: HOMES_ERRORS },
  { title: 'Backups of homes', file: 'backups.ts', codes: BACKUPS_ERRORS },
  { title: 'Images and templates', file: 'images.ts', codes: IMAGES_ERRORS },
  { title: 'Reaching a VM: SSH, the web, maintenance', file: 'access.ts', codes: ACCESS_ERRORS },
  { title: 'Files through the bot', file: 'files.ts', codes: FILES_ERRORS },
  { title: 'The Telegram bot', file: 'telegram.ts', codes: TELEGRAM_ERRORS },
  { title: 'The Discord bot', file: 'discord.ts', codes: DISCORD_ERRORS },
  { title: 'Coding agents and users’ secrets', file: 'agents.ts', codes: AGENTS_ERRORS },
  { title: 'Apps: deploys, builds and the API', file: 'apps.ts', codes: APPS_ERRORS },
  { title: 'Network isolation', file: 'network.ts', codes: NETWORK_ERRORS },
  { title: 'The Docker engine and Swarm nodes', file: 'nodes.ts', codes: NODES_ERRORS },
] as const satisfies readonly ErrorArea[];

type CodesOf<A> = A extends { codes: infer C } ? keyof C & string : never;

/** Every code a `BerthError` (or a JSON refusal of the daemon) may carry. */
export type ErrorCode = CodesOf<(typeof ERROR_AREAS)[number]>;
