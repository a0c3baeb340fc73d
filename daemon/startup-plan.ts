import { BerthError } from '../src/errors.js';
import type { ComponentName, ComponentStatus } from '../src/services/control/daemon-routes.js';
import type { ConfigValues } from '../src/values/config-keys.js';

/*
 * What the daemon starts, in which order, and how it stops, decided from the config and how it
 * was run; no I/O here. `main.ts` carries the plan out (`start-steps.ts` holds each step).
 */

/** One step of the daemon's start-up. */
export type Step =
  /** The control API on berth.sock (and /metrics): first, so `berth daemon status` answers. */
  | 'api'
  | 'pid-file'
  /** The egress rules, before anything touches the VMs. */
  | 'firewall'
  /** After a reboot: home disks re-attached, the VMs the engine could not start, started. */
  | 'homes'
  | 'events'
  /** Swarm mode: each worker node's engine events (nothing in local mode). */
  | 'nodes'
  | 'scheduler'
  | 'ssh'
  | 'web'
  | 'outbox-dir'
  /** Agent runs from chat (made before the API: stopped with the bot). */
  | 'agents'
  /** The bots last, and not waited for: a slow or unreachable Bot API never holds up the rest. */
  | 'telegram'
  | 'discord'
  /** Log limits follow the config without a restart (only with the daemon's own log file). */
  | 'log-limits';

export interface StartupPlan {
  /** The daemon writes its own log file, rotated by size (in the background); else stdout. */
  logFile: boolean;
  /** What `berth daemon status` shows of the parts before any of them starts. */
  initial: { name: ComponentName; state: ComponentStatus['state']; detail: string }[];
  /** The steps, in order. A step that throws stops the ones before it, last first. */
  start: Step[];
  /**
   * On SIGTERM/SIGINT. Not simply the start order reversed: the sessions (SSH, web) are told the
   * daemon is stopping first, before the wait for a bot still starting, then the bot and its agent
   * runs; the loops that watch the engine go last.
   */
  stop: Step[];
}

const START: readonly Step[] = [
  'api',
  'pid-file',
  'firewall',
  'homes',
  'events',
  'nodes',
  'scheduler',
  'ssh',
  'web',
  'outbox-dir',
  'agents',
  'telegram',
  'discord',
  'log-limits',
];
const STOP: readonly Step[] = [
  'ssh',
  'web',
  'telegram',
  'discord',
  'log-limits',
  'agents',
  'api',
  'scheduler',
  'events',
  'nodes',
  'firewall',
];

/** The daemon's start-up: `ssh.enabled` and `web.enabled` decide their parts; the log file, how it was run. */
export function startupPlan(config: Pick<ConfigValues, 'ssh.enabled' | 'web.enabled'>, run: { logToFile: boolean }): StartupPlan {
  const on = (step: Step) =>
    (step !== 'ssh' || config['ssh.enabled']) && (step !== 'web' || config['web.enabled']) && (step !== 'log-limits' || run.logToFile);
  const switchable = (name: 'ssh' | 'web') => {
    const enabled = config[`${name}.enabled`];
    return { name, state: enabled ? 'starting' : 'disabled', detail: enabled ? '' : `${name}.enabled is off` } as const;
  };
  return {
    logFile: run.logToFile,
    initial: [
      { name: 'api', state: 'starting', detail: '' },
      { name: 'scheduler', state: 'starting', detail: '' },
      { name: 'events', state: 'starting', detail: '' },
      switchable('ssh'),
      switchable('web'),
    ],
    start: START.filter(on),
    stop: STOP.filter(on),
  };
}

/** The bot's start: only with a token; a token that cannot be read is a failure `daemon status` shows. */
export type BotDecision<T> = { start: true; token: T } | { start: false; state: 'disabled' | 'failed'; detail: string };

export function botDecision<T extends object>(token: T | null | Error, bot: 'telegram' | 'discord' = 'telegram'): BotDecision<T> {
  if (token instanceof Error) return { start: false, state: 'failed', detail: token.message };
  if (!token) return { start: false, state: 'disabled', detail: `no token — run berth ${bot} setup` };
  return { start: true, token };
}

/** What `daemon status` says of a listener (SSH gateway, web server) that did not start. */
export function listenFailure(err: unknown, listen: string): string {
  return err instanceof BerthError ? err.message : `could not listen on ${listen}`;
}
