import { BerthError } from '../errors.js';
import type { Family } from '../values/egress.js';
import { runTool } from './run-tool.js';

/** The one module that runs the host's firewall tools. Every call has a timeout. */

const TIMEOUT_MS = 15_000;
/** How long iptables-restore waits for the xtables lock another process holds. */
export const LOCK_WAIT_S = '5';

export const FIREWALL_TOOLS: Record<Family, { save: string; restore: string }> = {
  4: { save: 'iptables-save', restore: 'iptables-restore' },
  6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

export function toolName(family: Family): string {
  return family === 4 ? 'iptables' : 'ip6tables';
}

/** The firewall cannot be read or changed from here: no tool, or no privilege. */
export class FirewallUnavailable extends BerthError {
  constructor(
    message: string,
    readonly reason: 'no-tool' | 'no-privilege' | 'failed',
  ) {
    super(
      'FIREWALL_UNAVAILABLE',
      message,
      reason === 'no-tool'
        ? 'Install iptables (apt-get install iptables), or run without isolation: berth config set network.firewall off'
        : reason === 'no-privilege'
          ? 'Run berth as root (it needs CAP_NET_ADMIN to change the firewall), or run without isolation: berth config set network.firewall off'
          : 'See the message above; berth doctor shows the firewall state.',
    );
  }
}

/** What a failed firewall tool means (`where`: "this host", or the node it ran on). */
export function firewallToolError(err: unknown, command: string, where = 'this host'): FirewallUnavailable {
  const e = err as { code?: string; stderr?: string; shortMessage?: string; timedOut?: boolean; message?: string };
  if (e.code === 'ENOENT') return new FirewallUnavailable(`${command} is not installed on ${where}.`, 'no-tool');
  const stderr = (e.stderr ?? '').trim();
  const on = where === 'this host' ? '' : ` on ${where}`;
  if (/permission denied|you must be root|operation not permitted/i.test(stderr) || e.code === 'EACCES') {
    return new FirewallUnavailable(`No permission to read or change the firewall${on} (${command}: ${lastLine(stderr)}).`, 'no-privilege');
  }
  if (e.timedOut) return new FirewallUnavailable(`${command}${on} did not finish in ${TIMEOUT_MS / 1000} s.`, 'failed');
  return new FirewallUnavailable(`${command}${on} failed: ${lastLine(stderr) || e.shortMessage || e.message || String(err)}`, 'failed');
}

const unavailable = (err: unknown, command: string) => firewallToolError(err, command);

function lastLine(text: string): string {
  return text.split('\n').filter(Boolean).slice(-1)[0] ?? '';
}

/** A firewall tool with the firewall's deadline. */
function tool(command: string, args: string[], input?: string): Promise<string> {
  return runTool(command, args, { timeoutMs: TIMEOUT_MS, input });
}

/** The filter table as `iptables-save -t filter` prints it. */
export async function saveFilter(family: Family): Promise<string> {
  const { save } = FIREWALL_TOOLS[family];
  try {
    return await tool(save, ['-t', 'filter']);
  } catch (err) {
    throw unavailable(err, save);
  }
}

/** Applies a script in one transaction, leaving every chain it does not name alone. */
export async function restoreFilter(family: Family, script: string): Promise<void> {
  const { restore } = FIREWALL_TOOLS[family];
  try {
    await tool(restore, ['--noflush', '-w', LOCK_WAIT_S], script);
  } catch (err) {
    throw unavailable(err, restore);
  }
}

/** The nftables tables (`family name`), or null when nft is absent or cannot be read. */
export async function nftTables(): Promise<string[] | null> {
  try {
    const out = await tool('nft', ['list', 'tables']);
    return out
      .split('\n')
      .map((l) => l.replace(/^table\s+/, '').trim())
      .filter(Boolean);
  } catch {
    return null;
  }
}
