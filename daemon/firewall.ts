import type { Logger } from 'pino';
import type { Berth } from '../src/services/core/context.js';
import { applyFirewalls, type FailedChecks, stopExposedVms } from '../src/services/nodes/node-firewalls.js';
import type { Components } from './components.js';

const DEFAULT_INTERVAL_MS = 30_000;

/** BERTH_FIREWALL_CHECK_MS (tests), else every 30 s. */
export function firewallInterval(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.BERTH_FIREWALL_CHECK_MS);
  return Number.isInteger(ms) && ms >= 100 && ms <= 86_400_000 ? ms : DEFAULT_INTERVAL_MS;
}

/**
 * Keeps this home's firewall rules in place: checked at start, every interval, and right
 * after the engine comes back (a restarted dockerd rewrites its own chains). One check at a
 * time; a drift found is repaired and logged.
 */
export class FirewallKeeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Checks in a row each node's rules were not in place (src/services/nodes/node-firewalls.ts). */
  private readonly failing: FailedChecks = new Map();

  constructor(
    private readonly ctx: Berth,
    private readonly components: Components,
    private readonly log: Logger,
    private readonly intervalMs = firewallInterval(),
  ) {}

  /** The first check, waited for; then the timer. */
  async start(): Promise<void> {
    this.components.set('firewall', 'starting');
    await this.check();
  }

  /** A check as soon as the one running (if any) is done. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else void this.check();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), this.intervalMs);
    this.timer.unref();
  }

  private check(): Promise<void> {
    this.running = (async () => {
      do {
        this.again = false;
        await this.once();
      } while (this.again && !this.stopped);
      this.running = null;
      this.schedule();
    })();
    return this.running;
  }

  private async once(): Promise<void> {
    try {
      const report = await applyFirewalls(this.ctx);
      if (report.state === 'off') {
        this.components.set('firewall', 'disabled', report.detail);
        return;
      }
      for (const r of [report, ...(report.nodes ?? [])]) {
        if (r.changes.length)
          this.log.warn({ node: r.node, problems: r.problems, bridge: r.bridge }, 'firewall rules were not in place; restored');
        if (r.state !== 'ok') this.log.error({ node: r.node, err: r.detail }, 'firewall rules could not be applied on a node');
      }
      const nodes = report.nodes ?? [];
      const bad = nodes.filter((n) => n.state !== 'ok');
      const isolated = await stopExposedVms(this.ctx, nodes, this.failing);
      if (isolated.length) this.log.error({ vms: isolated }, 'stopped VMs on nodes whose firewall rules cannot be kept');
      const onNodes = nodes.length
        ? `; ${nodes.length - bad.length}/${nodes.length} other node(s) ok${bad.map((n) => `; node ${n.node}: ${n.detail}`).join('')}`
        : '';
      this.components.set('firewall', 'running', `${report.detail}${onNodes}`);
    } catch (err) {
      const message = (err as Error).message;
      const hint = (err as { hint?: string }).hint;
      this.components.set('firewall', 'failed', hint ? `${message} ${hint}` : message, err);
      this.log.error({ err: message }, 'firewall rules could not be applied');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
