import { z } from 'zod';
import { BerthError, invalidInput } from '../errors.js';
import { parseRepository } from './backup.js';
import { checkDockerHost, checkNetworkName } from './docker-host.js';
import { formatDuration, parseDuration } from './durations.js';
import { parseEgress, parseHostAllow, parsePrivateAllow } from './egress.js';
import { checkImageRef } from './image-ref.js';
import { checkListenAddress, HOST_PATTERN } from './listen-address.js';
import { checkPlanName, printable } from './names.js';
import { parseCpus, parseWhole } from './numbers.js';
import { parseRecordMode, RECORD_MODES, type RecordMode } from './recording.js';
import { formatDiskSize, formatSize, parseDiskSize, parseFileSize, parseSize } from './sizes.js';
import { isReservedEnvName } from './ssh-env.js';
import { checkAppsDomain, checkPublicUrl } from './web-paths.js';

/** One global setting: how it is stored, parsed from text, and shown. */
export interface ConfigKey<T> {
  readonly description: string;
  readonly default: T;
  readonly schema: z.ZodType<T>;
  parse(input: string): T;
  format(value: T): string;
}

function key<T>(spec: ConfigKey<T>): ConfigKey<T> {
  return spec;
}

export function parseSwitch(input: string, what: string): boolean {
  const text = input.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(text)) return true;
  if (['off', 'false', 'no', '0'].includes(text)) return false;
  throw invalidInput('INVALID_SWITCH', `"${printable(input)}" is not on or off (${what}).`, 'Use on or off.');
}

const formatSwitch = (value: boolean) => (value ? 'on' : 'off');

export function parseTelegramId(input: string | number): number {
  return parseWhole(input, 'Telegram id', 1, Number.MAX_SAFE_INTEGER);
}

/** Discord ids (users, roles, guilds, applications) are snowflakes: 17 to 20 decimal digits. */
export const DISCORD_ID_PATTERN = /^\d{17,20}$/;

/** A Discord snowflake, kept as a string (it does not fit a JavaScript number). */
export function parseDiscordId(input: string, what = 'Discord user id'): string {
  const text = input.trim();
  if (!DISCORD_ID_PATTERN.test(text)) {
    throw invalidInput(
      'INVALID_DISCORD_ID',
      `"${printable(text).slice(0, 40)}" is not a ${what} (17 to 20 digits).`,
      'In Discord turn on Developer Mode (Settings → Advanced), then right-click the user, role or server and choose Copy ID.',
    );
  }
  return text;
}

function parseDiscordIds(input: string, what: string): string[] {
  return [
    ...new Set(
      input
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((id) => parseDiscordId(id, what)),
    ),
  ];
}

function checkHttpUrl(input: string, what: string): string {
  const text = input.trim();
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password) {
    throw invalidInput(
      'INVALID_URL',
      `"${printable(input)}" is not a valid ${what}.`,
      'Write an http(s) URL, e.g. https://bots.example.org',
    );
  }
  return text.replace(/\/+$/, '');
}

function parseTelegramMode(input: string): 'polling' | 'webhook' {
  const text = input.trim().toLowerCase();
  if (text !== 'polling' && text !== 'webhook') {
    throw invalidInput('INVALID_TELEGRAM_MODE', `"${printable(input)}" is not a bot mode.`, 'Use polling or webhook.');
  }
  return text;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function checkEnvName(input: string): string {
  if (!ENV_NAME.test(input)) {
    throw invalidInput(
      'INVALID_ENV_NAME',
      `"${printable(input)}" is not an environment variable name.`,
      'Use names like EDITOR or GIT_AUTHOR_NAME.',
    );
  }
  if (isReservedEnvName(input)) {
    throw invalidInput(
      'INVALID_ENV_NAME',
      `${input} cannot be passed in from SSH clients: berth sets it (or it changes what runs).`,
      'Leave it out; BERTH_SESSION, HOME, USER, LOGNAME, PATH, SHELL, LD_*, BASH_ENV, ENV and the like are refused.',
    );
  }
  return input;
}

function checkPublicHost(input: string): string {
  const text = input.trim();
  if (!HOST_PATTERN.test(text)) {
    throw invalidInput(
      'INVALID_HOST',
      `"${printable(text)}" is not a host name.`,
      'Write a DNS name or an IP address, e.g. dev.example.com.',
    );
  }
  return text;
}

function checkFilePath(input: string, what: string): string {
  const text = input.trim();
  if (text === '') return '';
  if (!text.startsWith('/') || text.includes('\0') || text.length > 1024) {
    throw invalidInput('INVALID_PATH', `"${printable(text)}" is not a valid ${what}.`, 'Give an absolute path, e.g. /etc/berth/web.pem.');
  }
  return text;
}

/** `~/work`, `work`, `~`: a directory under the user's home, no `..`, plain characters. */
export function checkAgentWorkdir(input: string): string {
  const text = input.trim();
  const rest = text === '~' ? '' : text.startsWith('~/') ? text.slice(2) : text;
  if (rest.startsWith('/') || rest.split('/').some((p) => p === '..') || !/^[A-Za-z0-9._/-]{0,200}$/.test(rest)) {
    throw invalidInput(
      'INVALID_PATH',
      `"${printable(text)}" is not a directory in the user's home.`,
      'Write ~/work, ~/projects/app or ~ (letters, digits, . _ - /; no ..).',
    );
  }
  return rest === '' ? '~' : `~/${rest.replace(/\/+$/, '')}`;
}

function parseLogLevel(input: string): string {
  const text = input.trim().toLowerCase();
  if (!LOG_LEVELS.includes(text)) {
    throw invalidInput('INVALID_LOG_LEVEL', `"${printable(input)}" is not a log level.`, `Use one of ${LOG_LEVELS.join(', ')}.`);
  }
  return text;
}

/** sshd's MaxStartups: `start:rate:full` (random early drop from `start` on, all dropped at `full`), or one number. */
export interface MaxStartups {
  start: number;
  rate: number;
  full: number;
}

export function parseMaxStartups(input: string): MaxStartups {
  const text = input.trim();
  const bad = (why: string) =>
    invalidInput(
      'INVALID_MAX_STARTUPS',
      `"${printable(text).slice(0, 40)}" is not a valid ssh.max-startups: ${why}.`,
      'Write start:rate:full as sshd does (e.g. 10:30:100: from 10 connections not logged in, 30 % of new ones dropped, rising to all at 100), or one number.',
    );
  const parts = text.split(':');
  if (!parts.every((p) => /^\d{1,6}$/.test(p)) || (parts.length !== 1 && parts.length !== 3))
    throw bad('three whole numbers start:rate:full');
  const [start = 0, rate = 100, full = start] = parts.map(Number);
  if (start < 1) throw bad('start must be at least 1');
  if (parts.length === 1) return { start, rate: 100, full: start };
  if (rate < 1 || rate > 100) throw bad('rate is a percentage from 1 to 100');
  if (full <= start) throw bad('full must be greater than start');
  return { start, rate, full };
}

export const formatMaxStartups = (m: MaxStartups) => (m.start === m.full ? String(m.start) : `${m.start}:${m.rate}:${m.full}`);

export const CONFIG_KEYS = {
  ram: key<number>({
    description: 'Memory of a VM whose plan sets none',
    default: 1024 ** 3,
    schema: z.number().int().positive(),
    parse: (s) => parseSize(s, 'RAM'),
    format: formatSize,
  }),
  cpu: key<number>({
    description: 'CPUs of a VM whose plan sets none (fractions allowed)',
    default: 1,
    schema: z.number().positive(),
    parse: (s) => parseCpus(s),
    format: String,
  }),
  disk: key<number>({
    description: 'Home quota of a VM whose plan sets none: the home is a filesystem of this size (0 = no quota)',
    default: 10 * 1024 ** 3,
    schema: z.number().int().min(0),
    parse: (s) => parseDiskSize(s, 'home quota'),
    format: formatDiskSize,
  }),
  rootfs: key<number>({
    description: 'Most a VM whose plan sets none may write outside its home (0 = no limit)',
    default: 10 * 1024 ** 3,
    schema: z.number().int().min(0),
    parse: (s) => parseDiskSize(s, 'rootfs limit'),
    format: formatDiskSize,
  }),
  gpu: key<boolean>({
    description: 'Whether VMs get the GPUs their plan asks for (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'gpu'),
    format: formatSwitch,
  }),
  image: key<string>({
    description: 'Image new VMs run unless a template or image is named',
    default: 'berth-vm:latest',
    schema: z.string(),
    parse: checkImageRef,
    format: String,
  }),
  'max-vms': key<number>({
    description: 'Most VMs on the whole host (0 = no limit)',
    default: 0,
    schema: z.number().int().min(0),
    parse: (s) => parseWhole(s, 'VM count', 0, 100_000),
    format: String,
  }),
  'bulk.concurrency': key<number>({
    description:
      'VMs started or stopped at once by actions on many (maintenance on/off, down --stop-vms, policy stops, reconcile --fix, the bot)',
    default: 8,
    schema: z.number().int().min(1).max(256),
    parse: (s) => parseWhole(s, 'concurrency', 1, 256),
    format: String,
  }),
  'idle-timeout': key<number>({
    description: 'Stop a VM idle this long (e.g. 30m; 0 = never)',
    default: 0,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'idle timeout'),
    format: formatDuration,
  }),
  'default-plan': key<string>({
    description: 'Plan given to users allowed without --plan',
    default: 'basic',
    schema: z.string(),
    parse: checkPlanName,
    format: String,
  }),
  overcommit: key<number>({
    description: 'Running VMs may reserve up to host memory × this',
    default: 1,
    schema: z.number().positive(),
    parse: (s) => parseCpus(s, 'overcommit factor'),
    format: String,
  }),
  'idle-cpu': key<number>({
    description: 'A VM using less CPU than this (percent) counts as idle',
    default: 2,
    schema: z.number().positive(),
    parse: (s) => parseCpus(s.replace(/%$/, ''), 'CPU percentage'),
    format: String,
  }),
  'idle-check-interval': key<number>({
    description: 'How often the daemon checks idle and lifetime policies',
    default: 60,
    schema: z.number().int().positive(),
    parse: (s) => Math.max(1, parseDuration(s, 'check interval')),
    format: formatDuration,
  }),
  'destroy-after': key<number>({
    description: 'Destroy VMs stopped this long (e.g. 30d; 0 = never)',
    default: 0,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'destroy-after'),
    format: formatDuration,
  }),
  'destroy-after.remove-home': key<boolean>({
    description: 'Whether destroy-after also removes the home volume (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'destroy-after.remove-home'),
    format: formatSwitch,
  }),
  'log-level': key<string>({
    description: 'Daemon log level: trace, debug, info, warn, error',
    default: 'info',
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
    parse: parseLogLevel,
    format: String,
  }),
  'log.max-size': key<number>({
    description: 'The daemon log (logs/daemon.log) is rotated when it reaches this size (e.g. 10m)',
    default: 10 * 1024 ** 2,
    schema: z.number().int().min(4096),
    parse: (s) => parseFileSize(s, 'log size', 4096),
    format: formatSize,
  }),
  'log.keep': key<number>({
    description: 'Rotated daemon logs kept besides the current one (daemon.log.1 … daemon.log.N)',
    default: 5,
    schema: z.number().int().min(1).max(100),
    parse: (s) => parseWhole(s, 'number of log files', 1, 100),
    format: String,
  }),
  'metrics.listen': key<string>({
    description: 'Also serve /metrics over TCP here (host:port; empty = off)',
    default: '',
    schema: z.string(),
    parse: (s) => (s.trim() === '' ? '' : checkListenAddress(s)),
    format: String,
  }),
  'docker.host': key<string>({
    description: 'Docker engine (unix:///path, tcp://host:port, ssh://user@host); DOCKER_HOST wins',
    default: '',
    schema: z.string(),
    parse: checkDockerHost,
    format: String,
  }),
  engine: key<'local' | 'swarm'>({
    description:
      'Where VMs run: local (the one Docker engine) or swarm (services on a Docker Swarm, each pinned to the node holding its home; run berth on a manager)',
    default: 'local',
    schema: z.enum(['local', 'swarm']),
    parse: (s) => {
      const text = s.trim().toLowerCase();
      if (text !== 'local' && text !== 'swarm')
        throw invalidInput('INVALID_ENGINE', `"${printable(s)}" is not an engine mode.`, 'Use local or swarm.');
      return text;
    },
    format: String,
  }),
  'docker.network': key<string>({
    description: 'Bridge network of the VMs (inter-VM traffic disabled)',
    default: 'berth-vms',
    schema: z.string(),
    parse: checkNetworkName,
    format: String,
  }),
  // --- network ---
  'network.firewall': key<boolean>({
    description: 'Enforce the egress policy with host firewall rules; VM create fails when they cannot be applied (on/off)',
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'network.firewall'),
    format: formatSwitch,
  }),
  'network.host-allow': key<string[]>({
    description: "Ports of the host's own addresses VMs may reach (e.g. tcp/3128,udp/5000-5010; empty = none)",
    default: [],
    schema: z.array(z.string()),
    parse: parseHostAllow,
    format: (ports) => ports.join(','),
  }),
  'network.egress': key<string[]>({
    description: 'Where VMs may connect: internet, none, or a list of CIDR, tcp/PORT, tcp/PORT@CIDR',
    default: ['internet'],
    schema: z.array(z.string()),
    parse: parseEgress,
    format: (entries) => entries.join(','),
  }),
  'network.block-private': key<boolean>({
    description:
      'Refuse private destinations: RFC 1918, CGNAT (100.64/10), ULA (fc00::/7) and other non-public ranges; network.private-allow opens some (on/off)',
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'network.block-private'),
    format: formatSwitch,
  }),
  'network.private-allow': key<string[]>({
    description:
      'Private destinations VMs may reach anyway (a LAN or VPC range): CIDR or tcp/PORT@CIDR inside a private range (e.g. 192.168.1.0/24; empty = none)',
    default: [],
    schema: z.array(z.string()),
    parse: parsePrivateAllow,
    format: (entries) => entries.join(','),
  }),
  // --- end network ---
  'ssh.listen': key<string>({
    description: 'Address of the SSH gateway (host:port)',
    default: '0.0.0.0:2222',
    schema: z.string(),
    parse: checkListenAddress,
    format: String,
  }),
  // --- SSH gateway ---
  'ssh.enabled': key<boolean>({
    description: 'Whether the daemon runs the SSH gateway (on/off)',
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.enabled'),
    format: formatSwitch,
  }),
  'ssh.public-host': key<string>({
    description: "Host name users connect to, as shown by /ssh (empty = this machine's hostname)",
    default: '',
    schema: z.string(),
    parse: (s) => (s.trim() === '' ? '' : checkPublicHost(s)),
    format: String,
  }),
  'ssh.accept-env': key<string[]>({
    description: 'Client variables passed into sessions besides LANG, LC_* and TERM (comma-separated names)',
    default: [],
    schema: z.array(z.string()),
    parse: (s) => [
      ...new Set(
        s
          .split(/[\s,]+/)
          .filter(Boolean)
          .map(checkEnvName),
      ),
    ],
    format: (names) => names.join(','),
  }),
  'agent.workdir': key<string>({
    description: "Where an agent runs in the VM, relative to the user's home (~/ or a path under it)",
    default: '~/work',
    schema: z.string(),
    parse: checkAgentWorkdir,
    format: String,
  }),
  'agent.timeout': key<number>({
    description: 'Longest an agent run may take before it is stopped (e.g. 10m)',
    default: 10 * 60,
    schema: z.number().int().min(1),
    parse: (s) => {
      const seconds = parseDuration(s, 'agent timeout');
      if (seconds < 1) throw invalidInput('INVALID_DURATION', 'agent.timeout must be at least 1s.', 'For example: 10m');
      return seconds;
    },
    format: formatDuration,
  }),
  'agent.api-base-url': key<string>({
    description:
      "The agent's API base URL, given to its process only (empty: the vendor's; e.g. an LLM gateway reached through network.host-allow)",
    default: '',
    schema: z.string(),
    parse: (s) => (s.trim() === '' ? '' : checkHttpUrl(s, 'API base URL')),
    format: String,
  }),
  'ssh.autostart': key<boolean>({
    description: 'Start a stopped VM when its user connects over SSH (on/off)',
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.autostart'),
    format: formatSwitch,
  }),
  'ssh.autocreate': key<boolean>({
    description: 'Create a VM for a user with none when they connect over SSH, if their plan allows (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.autocreate'),
    format: formatSwitch,
  }),
  'ssh.max-sessions': key<number>({
    description: 'Most SSH sessions (shells, commands, transfers, forwards) open at once on one connection (sshd MaxSessions)',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'session count', 1, 10_000),
    format: String,
  }),
  'ssh.max-user-sessions': key<number>({
    description: 'Most SSH sessions one user holds open at once over all their connections',
    default: 50,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'session count', 1, 100_000),
    format: String,
  }),
  'ssh.idle-timeout': key<number>({
    description: 'Close an SSH connection with no traffic for this long (e.g. 1h; 0 = never)',
    default: 0,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'SSH idle timeout'),
    format: formatDuration,
  }),
  'ssh.auth-rate': key<number>({
    description: 'Failed SSH logins allowed per source address per minute before a ban',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'attempt count', 1, 100_000),
    format: String,
  }),
  'ssh.ban': key<number>({
    description: 'How long an address that failed too often is refused (e.g. 10m)',
    default: 600,
    schema: z.number().int().min(1),
    parse: (s) => Math.max(1, parseDuration(s, 'ban duration')),
    format: formatDuration,
  }),
  'ssh.allow-remote-forward': key<boolean>({
    description: "Let users forward a port of their VM back to their machine (ssh -R; the VM's 127.0.0.1 only) (on/off)",
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.allow-remote-forward'),
    format: formatSwitch,
  }),
  'ssh.allow-agent': key<boolean>({
    description: 'Let users forward their SSH agent into their VM (ssh -A) (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.allow-agent'),
    format: formatSwitch,
  }),
  'ssh.allow-x11': key<boolean>({
    description: 'Let users forward X11 from their VM to their display (ssh -X/-Y) (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'ssh.allow-x11'),
    format: formatSwitch,
  }),
  'ssh.max-keys': key<number>({
    description: 'Most SSH public keys one user may register',
    default: 20,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'key count', 1, 1000),
    format: String,
  }),
  'ssh.max-startups': key<MaxStartups>({
    description:
      'Connections not logged in yet, overall, as sshd start:rate:full: from start on, rate % of new ones are dropped at random, rising to all at full',
    default: { start: 10, rate: 30, full: 100 },
    schema: z.object({ start: z.number().int().min(1), rate: z.number().int().min(1).max(100), full: z.number().int().min(1) }),
    parse: parseMaxStartups,
    format: formatMaxStartups,
  }),
  'ssh.max-startups-per-source': key<number>({
    description: 'Connections not logged in yet from one source address (IPv6: one /64); more are dropped',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'connection count', 1, 100_000),
    format: String,
  }),
  'ssh.login-grace': key<number>({
    description: 'A connection not logged in this long after it was accepted is cut (e.g. 60s)',
    default: 60,
    schema: z.number().int().min(1),
    parse: (s) => Math.max(1, parseDuration(s, 'login grace time')),
    format: formatDuration,
  }),
  'ssh.banner-timeout': key<number>({
    description: 'A connection that has not sent its SSH-2.0 identification this long after it was accepted is cut (e.g. 10s)',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => Math.max(1, parseDuration(s, 'banner timeout')),
    format: formatDuration,
  }),
  'ssh.penalty-grace-exceeded': key<number>({
    description:
      'Penalty a source earns each time one of its connections is cut by ssh.banner-timeout or ssh.login-grace (sshd grace-exceeded; penalties add up; 0 = none)',
    default: 20,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'penalty'),
    format: formatDuration,
  }),
  'ssh.penalty-noauth': key<number>({
    description:
      'Penalty a source earns each time one of its connections breaks the SSH protocol before logging in, e.g. sends garbage (sshd noauth; 0 = none)',
    default: 1,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'penalty'),
    format: formatDuration,
  }),
  'ssh.penalty-min': key<number>({
    description: "A source's new connections are refused once its penalties add up to this much (sshd min)",
    default: 15,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'penalty threshold'),
    format: formatDuration,
  }),
  'ssh.penalty-max': key<number>({
    description: 'The longest a penalised source is refused, however much it earned (sshd max; 0 = penalties off)',
    default: 600,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'maximum penalty'),
    format: formatDuration,
  }),
  'ssh.max-connections': key<number>({
    description: 'Most SSH connections one user holds logged in at once (ssh -N ones too)',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'connection count', 1, 10_000),
    format: String,
  }),
  'ssh.channel-rate': key<number>({
    description: 'Channels (sessions, forwarded connections) one user may open per minute, all connections together',
    default: 120,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'channels per minute', 1, 100_000),
    format: String,
  }),
  // --- end SSH gateway ---
  // --- web ---
  'web.enabled': key<boolean>({
    description: 'Whether the daemon serves the web terminal and the web-app URLs (on/off)',
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'web.enabled'),
    format: formatSwitch,
  }),
  'web.listen': key<string>({
    description: 'Address of the web server (host:port); plain HTTP only on loopback unless web.insecure-http is on',
    default: '127.0.0.1:8088',
    schema: z.string(),
    parse: checkListenAddress,
    format: String,
  }),
  'web.public-url': key<string>({
    description: 'The origin users open (e.g. https://berth.example.com behind a reverse proxy); empty = http:// + web.listen',
    default: '',
    schema: z.string(),
    parse: checkPublicUrl,
    format: String,
  }),
  'web.apps-domain': key<string>({
    description:
      "Domain under which each VM port's web app is an origin of its own, PORT--VM--USER.DOMAIN (wildcard DNS and certificate; e.g. apps.example.com; empty = not set)",
    default: '',
    schema: z.string(),
    parse: checkAppsDomain,
    format: String,
  }),
  'web.path-apps': key<boolean>({
    description: "Also serve web apps at /vm/USER/VM/PORT/ and /app/… of berth's own origin (an app then runs on berth's origin) (on/off)",
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'web.path-apps'),
    format: formatSwitch,
  }),
  'web.tls-cert': key<string>({
    description: 'PEM certificate (chain) for serving HTTPS itself (with web.tls-key; empty = plain HTTP)',
    default: '',
    schema: z.string(),
    parse: (s) => checkFilePath(s, 'certificate path'),
    format: String,
  }),
  'web.tls-key': key<string>({
    description: 'PEM private key for web.tls-cert',
    default: '',
    schema: z.string(),
    parse: (s) => checkFilePath(s, 'key path'),
    format: String,
  }),
  'web.insecure-http': key<boolean>({
    description: 'Serve plain HTTP on a non-loopback address (only behind a proxy that adds TLS) (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'web.insecure-http'),
    format: formatSwitch,
  }),
  'web.session-idle': key<number>({
    description: 'A browser session unused this long is logged out (e.g. 30m)',
    default: 30 * 60,
    schema: z.number().int().min(60),
    parse: (s) => Math.max(60, parseDuration(s, 'session idle timeout')),
    format: formatDuration,
  }),
  'web.session-max': key<number>({
    description: 'A browser session ends this long after its link was opened, used or not (e.g. 8h)',
    default: 8 * 3600,
    schema: z.number().int().min(60),
    parse: (s) => Math.max(60, parseDuration(s, 'session lifetime')),
    format: formatDuration,
  }),
  'web.reattach': key<number>({
    description: 'How long a web terminal whose browser went away waits to be reattached (e.g. 5m; 0 = ends at once)',
    default: 5 * 60,
    schema: z.number().int().min(0),
    parse: (s) => parseDuration(s, 'reattach window'),
    format: formatDuration,
  }),
  'web.ticket-rate': key<number>({
    description: 'One-time web links one user may be given per minute (bot and CLI together)',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'links per minute', 1, 10_000),
    format: String,
  }),
  'web.max-sessions': key<number>({
    description:
      'Most web terminals (attached or waiting to be reattached) one user holds at once; they count in ssh.max-user-sessions too',
    default: 5,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'session count', 1, 1000),
    format: String,
  }),
  'web.max-body': key<number>({
    description: "Largest request body the web server passes to a VM's web app (e.g. 64m)",
    default: 64 * 1024 ** 2,
    schema: z.number().int().min(1024),
    parse: (s) => parseFileSize(s, 'body size', 1024),
    format: formatSize,
  }),
  'web.max-startups-per-source': key<number>({
    description:
      'Connections to the web server from one source address (IPv6: one /64) that have not sent their first request yet; more are dropped',
    default: 20,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'connection count', 1, 100_000),
    format: String,
  }),
  'web.header-timeout': key<number>({
    description:
      'A web connection that has not sent its first request (TLS handshake and headers) this long after it was accepted is cut (e.g. 10s)',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => Math.max(1, parseDuration(s, 'header timeout')),
    format: formatDuration,
  }),
  'web.app-timeout': key<number>({
    description: "How long a VM's web app may take to start its answer (status and headers) before the browser gets a 502 (e.g. 60s)",
    default: 60,
    schema: z.number().int().min(1),
    parse: (s) => Math.max(1, parseDuration(s, 'app answer timeout')),
    format: formatDuration,
  }),
  'web.max-app-requests': key<number>({
    description:
      "Most requests one user has waiting on their VMs' web apps at once; more are answered 429 (WebSockets count in ssh.max-user-sessions)",
    default: 128,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'request count', 1, 100_000),
    format: String,
  }),
  'web.api': key<boolean>({
    description: "Whether the web server also serves the HTTP API for users' tokens at /api/v1 (docs/apps-api.md) (on/off)",
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'web.api'),
    format: formatSwitch,
  }),
  'web.api-rate': key<number>({
    description: 'Requests one API token may make per minute; more are answered 429',
    default: 60,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'requests per minute', 1, 100_000),
    format: String,
  }),
  'web.api-deploy-rate': key<number>({
    description: 'Deploys one user may ask for through the API per hour, all their tokens together; more are answered 429',
    default: 10,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'deploys per hour', 1, 10_000),
    format: String,
  }),
  'web.api-auth-failures': key<number>({
    description:
      'API requests without a valid token one source address (IPv6: one /64) may make per minute; past that, all its API requests are answered 429 until the minute is over',
    default: 20,
    schema: z.number().int().min(1),
    parse: (s) => parseWhole(s, 'failures per minute', 1, 100_000),
    format: String,
  }),
  // --- end web ---
  'telegram.admins': key<number[]>({
    description: 'Telegram ids with admin rights in the bot (comma-separated)',
    default: [],
    schema: z.array(z.number().int().positive()),
    parse: (s) => [
      ...new Set(
        s
          .split(/[\s,]+/)
          .filter(Boolean)
          .map(parseTelegramId),
      ),
    ],
    format: (ids) => ids.join(','),
  }),
  'telegram.api-root': key<string>({
    description: 'Bot API server (a self-hosted one allows larger files); env BERTH_TELEGRAM_API_ROOT wins',
    default: 'https://api.telegram.org',
    schema: z.string(),
    parse: (s) => checkHttpUrl(s, 'Bot API root'),
    format: String,
  }),
  'telegram.throttle': key<boolean>({
    description:
      "Pace the bot's sends within Telegram's flood limits (30 a second overall, 1 a second per chat); off only for a Bot API server without them",
    default: true,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'telegram.throttle'),
    format: formatSwitch,
  }),
  'telegram.mode': key<'polling' | 'webhook'>({
    description: 'How the bot gets updates: polling (default) or webhook',
    default: 'polling',
    schema: z.enum(['polling', 'webhook']),
    parse: parseTelegramMode,
    format: String,
  }),
  'telegram.webhook-url': key<string>({
    description: 'Public HTTPS URL Telegram posts updates to (webhook mode)',
    default: '',
    schema: z.string(),
    parse: (s) => checkHttpUrl(s, 'webhook URL'),
    format: String,
  }),
  'telegram.webhook-listen': key<string>({
    description: 'Local address the webhook receiver listens on (host:port)',
    default: '127.0.0.1:8443',
    schema: z.string(),
    parse: checkListenAddress,
    format: String,
  }),
  'telegram.rate-limit': key<number>({
    description: 'Updates (messages, button presses, files) one Telegram user may send per minute (0 = no limit)',
    default: 20,
    schema: z.number().int().min(0),
    parse: (s) => parseWhole(s, 'updates per minute', 0, 10_000),
    format: String,
  }),
  'telegram.max-pending': key<number>({
    description:
      "Most users waiting for an admin's decision, on the waiting list the Telegram and Discord bots share; past it a stranger's /start is refused and admins get one digest every 10 minutes instead of a message each (0 = no new requests)",
    default: 50,
    schema: z.number().int().min(0),
    parse: (s) => parseWhole(s, 'count of pending users', 0, 100_000),
    format: String,
  }),
  'telegram.exec-timeout': key<number>({
    description: 'Longest a /exec command may run before it is killed',
    default: 60,
    schema: z.number().int().positive(),
    parse: (s) => Math.max(1, parseDuration(s, 'exec timeout')),
    format: formatDuration,
  }),
  'discord.admins': key<string[]>({
    description: 'Discord user ids with admin rights in the Discord bot (comma-separated)',
    default: [],
    schema: z.array(z.string().regex(DISCORD_ID_PATTERN)),
    parse: (s) => parseDiscordIds(s, 'Discord user id'),
    format: (ids) => ids.join(','),
  }),
  'discord.admin-role': key<string>({
    description: 'A Discord role id: its members in an allowed guild (discord.guilds) have admin rights in the bot (empty = none)',
    default: '',
    schema: z.union([z.literal(''), z.string().regex(DISCORD_ID_PATTERN)]),
    parse: (s) => (s.trim() === '' ? '' : parseDiscordId(s, 'Discord role id')),
    format: String,
  }),
  'discord.guilds': key<string[]>({
    description: 'Discord servers (guild ids, comma-separated) where the bot answers; empty = direct messages only',
    default: [],
    schema: z.array(z.string().regex(DISCORD_ID_PATTERN)),
    parse: (s) => parseDiscordIds(s, 'Discord server (guild) id'),
    format: (ids) => ids.join(','),
  }),
  'discord.api-root': key<string>({
    description: 'Discord API server the bot talks to',
    default: 'https://discord.com/api',
    schema: z.string(),
    parse: (s) => checkHttpUrl(s, 'Discord API root'),
    format: String,
  }),
  'discord.rate-limit': key<number>({
    description: 'Actions (commands, button presses, messages, files) one Discord user may take per minute (0 = no limit)',
    default: 20,
    schema: z.number().int().min(0),
    parse: (s) => parseWhole(s, 'actions per minute', 0, 10_000),
    format: String,
  }),
  'discord.exec-timeout': key<number>({
    description: 'Longest a command run from the Discord bot (/exec) may run before it is killed',
    default: 60,
    schema: z.number().int().positive(),
    parse: (s) => Math.max(1, parseDuration(s, 'exec timeout')),
    format: formatDuration,
  }),
  // --- apps ---
  'apps.pip-index-url': key<string>({
    description:
      "Package index pip installs an app's requirements from (empty: pip's own, pypi.org); e.g. a mirror reached through network.host-allow",
    default: '',
    schema: z.string(),
    parse: (s) => (s.trim() === '' ? '' : checkHttpUrl(s, 'package index URL')),
    format: String,
  }),
  'apps.npm-registry': key<string>({
    description: "Registry npm installs an app's dependencies from (empty: npm's own)",
    default: '',
    schema: z.string(),
    parse: (s) => (s.trim() === '' ? '' : checkHttpUrl(s, 'npm registry URL')),
    format: String,
  }),
  'apps.images': key<string[]>({
    description: 'Images users may run as apps: names or patterns with * (e.g. python:3.12-slim,ghcr.io/acme/*; empty = none)',
    default: [],
    schema: z.array(z.string()),
    parse: parseImagePatterns,
    format: (patterns) => patterns.join(','),
  }),
  'apps.dockerfile': key<boolean>({
    description: "Build apps from a user's Dockerfile (on/off); only where a builder that gives a step no more than a VM can run",
    default: false,
    schema: z.boolean(),
    parse: (s) => {
      if (!parseSwitch(s, 'apps.dockerfile')) return false;
      // Docker's builders give RUN steps their default capabilities (NET_RAW, MKNOD, SETFCAP…) and
      // network, or need privileges themselves (BuildKit rootless, kaniko): none holds a step to a VM's limits.
      throw new BerthError(
        'DOCKERFILE_UNAVAILABLE',
        "Dockerfile builds cannot be turned on here: no builder on this host gives a build step no more than a VM has (the engine's builder grants RUN steps its default capabilities and network).",
        'Users deploy code (berth builds it in a sandbox), an archive, a git repository, or an image from apps.images.',
      );
    },
    format: formatSwitch,
  }),
  'apps.python-image': key<string>({
    description: 'The image Python apps are built on (berth app base builds it)',
    default: 'berth-app-python:latest',
    schema: z.string(),
    parse: checkImageRef,
    format: String,
  }),
  'apps.node-image': key<string>({
    description: 'The image Node.js apps are built on (berth app base builds it)',
    default: 'berth-app-node:latest',
    schema: z.string(),
    parse: checkImageRef,
    format: String,
  }),
  'apps.build-timeout': key<number>({
    description: "Longest an app's build may run before it is killed",
    default: 600,
    schema: z.number().int().positive(),
    parse: (s) => Math.max(10, parseDuration(s, 'build timeout')),
    format: formatDuration,
  }),
  'apps.build-ram': key<number>({
    description: "Memory of an app's build container",
    default: 1024 ** 3,
    schema: z.number().int().positive(),
    parse: (s) => parseSize(s, 'build memory'),
    format: formatSize,
  }),
  'apps.build-cpu': key<number>({
    description: "CPUs of an app's build container",
    default: 1,
    schema: z.number().positive(),
    parse: (s) => parseCpus(s, 'build CPU count'),
    format: String,
  }),
  'apps.max-upload': key<number>({
    description: 'Largest archive of code a user may send, and most its files may unpack to',
    default: 50 * 1024 ** 2,
    schema: z.number().int().positive(),
    parse: (s) => parseFileSize(s, 'upload limit', 64 * 1024),
    format: formatSize,
  }),
  'apps.max-image-upload': key<number>({
    description: 'Largest `docker save` archive a user may upload as an app image (0 = uploads off)',
    default: 512 * 1024 ** 2,
    schema: z.number().int().min(0),
    parse: (s) => (['0', 'off'].includes(s.trim().toLowerCase()) ? 0 : parseFileSize(s, 'image upload limit', 1024 ** 2)),
    format: (n) => (n === 0 ? 'off' : formatSize(n)),
  }),
  'apps.crash-limit': key<number>({
    description: 'Crashes within an hour after which an app stays down as crashed',
    default: 5,
    schema: z.number().int().positive(),
    parse: (s) => parseWhole(s, 'crash limit', 1, 1000),
    format: String,
  }),
  'apps.log-size': key<number>({
    description: "Most of an app's output the engine keeps (two files of half this size)",
    default: 2 * 1024 ** 2,
    schema: z.number().int().positive(),
    parse: (s) => parseFileSize(s, 'log size', 64 * 1024),
    format: formatSize,
  }),
  // --- end apps ---
  'backup.repository': key<string>({
    description:
      'Where backups of homes go: an absolute path (every node must see it on a Swarm), or a restic URL (sftp:, rest:, s3:…); empty: backups/repository under the berth home',
    default: '',
    schema: z.string(),
    parse: (s) => {
      if (s.trim() === '') return '';
      const r = parseRepository(s);
      return r.kind === 'local' ? r.path : r.url;
    },
    format: (v) => v || "(the berth home's backups/repository)",
  }),
  'backup.deadline': key<number>({
    description: 'The longest one backup or restore may run before it is stopped (e.g. 2h)',
    default: 2 * 3600,
    schema: z.number().int().positive(),
    parse: (s) => {
      const n = parseDuration(s, 'backup deadline');
      if (n < 60) throw new BerthError('INVALID_DURATION', 'A backup deadline under a minute would stop every backup.', 'Give e.g. 2h.');
      return n;
    },
    format: formatDuration,
  }),
  'backup.window': key<string>({
    description: 'When daily backups run: a window of hours HH-HH in the host time zone (e.g. 01-05); each home at its own time within it',
    default: '01-05',
    schema: z.string().regex(/^\d{2}-\d{2}$/),
    parse: (s) => parseWindow(s),
    format: String,
  }),
  'sessions.record': key<RecordMode>({
    description:
      "Record interactive SSH and web-terminal sessions as asciicast files: off, output (what the user sees) or output+input (and what they type); a plan's --record overrides it",
    default: 'off',
    schema: z.enum(RECORD_MODES),
    parse: (s) => parseRecordMode(s),
    format: String,
  }),
  'sessions.record-size': key<number>({
    description: 'Most one recording may hold; past it the recording ends with a marker (the session goes on)',
    default: 100 * 1024 ** 2,
    schema: z.number().int().positive(),
    parse: (s) => parseFileSize(s, 'recording size', 64 * 1024),
    format: formatSize,
  }),
  'sessions.record-max': key<number>({
    description: 'Most all recordings together may hold on this host; the oldest are deleted first',
    default: 5 * 1024 ** 3,
    schema: z.number().int().positive(),
    parse: (s) => parseFileSize(s, 'recordings total', 1024 ** 2),
    format: formatSize,
  }),
  'sessions.record-keep': key<number>({
    description: 'How long a recording is kept (e.g. 30d); older ones are deleted',
    default: 30 * 24 * 3600,
    schema: z.number().int().positive(),
    parse: (s) => {
      const n = parseDuration(s, 'recording retention');
      if (n <= 0)
        throw new BerthError(
          'INVALID_DURATION',
          'A retention of 0 would delete every recording at once.',
          'Give a duration, e.g. 30d; to stop recording: berth config set sessions.record off',
        );
      return n;
    },
    format: formatDuration,
  }),
  'sessions.record-exec': key<boolean>({
    description: "Also record the output of recorded users' chat /exec commands, each as a recording of its own (on/off)",
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'sessions.record-exec'),
    format: formatSwitch,
  }),
  'sessions.record-self': key<boolean>({
    description: 'Users may list and replay their own recordings from chat (on/off)',
    default: false,
    schema: z.boolean(),
    parse: (s) => parseSwitch(s, 'sessions.record-self'),
    format: formatSwitch,
  }),
} as const;

/** Image name patterns: references with `*` (any run of characters) allowed. */
function parseImagePatterns(input: string): string[] {
  const patterns = [...new Set(input.split(/[\s,]+/).filter(Boolean))];
  for (const pattern of patterns) {
    if (pattern.length > 255 || !/^[a-z0-9*][a-z0-9._\-/:@*]*$/.test(pattern)) {
      throw invalidInput(
        'INVALID_IMAGE',
        `"${printable(pattern)}" is not an image name or pattern.`,
        'Write image names such as python:3.12-slim, or patterns such as ghcr.io/acme/*, separated by commas.',
      );
    }
  }
  return patterns;
}

export type ConfigName = keyof typeof CONFIG_KEYS;
export type ConfigValues = { -readonly [K in ConfigName]: (typeof CONFIG_KEYS)[K]['default'] };

export const CONFIG_NAMES = Object.keys(CONFIG_KEYS) as ConfigName[];

export function isConfigName(name: string): name is ConfigName {
  return Object.hasOwn(CONFIG_KEYS, name);
}

export function checkConfigName(name: string): ConfigName {
  if (!isConfigName(name)) {
    throw invalidInput('UNKNOWN_CONFIG_KEY', `"${printable(name)}" is not a config key.`, `Valid keys: ${CONFIG_NAMES.join(', ')}.`);
  }
  return name;
}

/** The values explicitly set, as stored in the state file. */
export const ConfigSetSchema = z
  .object(
    Object.fromEntries(CONFIG_NAMES.map((name) => [name, CONFIG_KEYS[name].schema.optional()])) as {
      [K in ConfigName]: z.ZodOptional<z.ZodType<ConfigValues[K]>>;
    },
  )
  .strict();
export type ConfigSet = z.infer<typeof ConfigSetSchema>;

/** Every key's value in force: the set one, else the default. */
/** What a frozen config (the state's shared snapshot) comes to: worked out once per snapshot, not per bot update. */
const effectiveOfFrozen = new WeakMap<ConfigSet, ConfigValues>();

export function effectiveConfig(set: ConfigSet): ConfigValues {
  const frozen = Object.isFrozen(set);
  const known = frozen ? effectiveOfFrozen.get(set) : undefined;
  if (known) return known;
  const out = {} as Record<string, unknown>;
  for (const name of CONFIG_NAMES) out[name] = set[name] ?? CONFIG_KEYS[name].default;
  if (!frozen) return out as ConfigValues;
  const values = Object.freeze(out) as ConfigValues;
  effectiveOfFrozen.set(set, values);
  return values;
}

export function formatConfigValue<K extends ConfigName>(name: K, value: ConfigValues[K]): string {
  return (CONFIG_KEYS[name] as ConfigKey<ConfigValues[K]>).format(value);
}

/** A daily window of hours, HH-HH (it may wrap past midnight, 22-04). */
function parseWindow(input: string): string {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(input.trim());
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from > 23 || to > 24 || from === to)
    throw new BerthError('INVALID_NUMBER', `"${input.slice(0, 20)}" is not a window of hours.`, 'Write HH-HH, e.g. 01-05 or 22-04.');
  return `${String(from).padStart(2, '0')}-${String(to).padStart(2, '0')}`;
}
