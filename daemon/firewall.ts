import type { Logger } from 'pino';
import { OPERATOR } from '../src/domain/actor.js';
import { vmRef } from '../src/domain/lookups.js';
import type { Berth } from '../src/services/context.js';
import type { FirewallReport } from '../src/services/firewall.js';
import { applyFirewalls } from '../src/services/node-firewalls.js';
import { stopVms } from '../src/services/vm-bulk.js';
import { effectiveConfig } from '../src/values/config-keys.js';
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
  /** Checks in a row a node's rules were not in place, by node id (bounded by the nodes in the last report). */
  private readonly failing = new Map<string, number>();

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
      await this.isolate(nodes);
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

  /**
   * Fail closed on a node whose rules are gone and cannot be put back: after two checks in a row
   * (a passing hiccup is not enough), its running VMs are stopped and their owners told; they can
   * start again once the node has its rules (a start installs them first).
   */
  private async isolate(nodes: FirewallReport[]): Promise<void> {
    const seen = new Set<string>();
    for (const r of nodes) {
      if (!r.nodeId) continue;
      seen.add(r.nodeId);
      if (r.state === 'ok' || r.state === 'off') this.failing.delete(r.nodeId);
      else this.failing.set(r.nodeId, (this.failing.get(r.nodeId) ?? 0) + 1);
    }
    for (const id of this.failing.keys()) if (!seen.has(id)) this.failing.delete(id);
    const exposed = [...this.failing].filter(([, n]) => n >= 2).map(([id]) => id);
    if (exposed.length === 0) return;
    const state = await this.ctx.store.read();
    const running = state.vms.filter((vm) => vm.node && exposed.includes(vm.node) && vm.desired === 'running' && vm.phase === 'ready');
    if (running.length === 0) return;
    const why = (vm: (typeof running)[number]) => nodes.find((r) => r.nodeId === vm.node)?.detail ?? '';
    this.log.error({ vms: running.map(vmRef), nodes: exposed }, 'stopping VMs on nodes whose firewall rules cannot be kept');
    const result = await stopVms(
      this.ctx,
      running.map((vm) => ({ ref: vmRef(vm), reason: 'firewall' as const })),
      OPERATOR,
      { concurrency: effectiveConfig(state.config)['bulk.concurrency'] },
    );
    for (const vm of running.filter((v) => result.changed.includes(vmRef(v)))) {
      await this.ctx.notifier
        .send({
          kind: 'vm-stopped',
          to: vm.user,
          vm: vmRef(vm),
          text: `Your VM ${vmRef(vm)} was stopped: berth could not keep its node's firewall rules in place (${why(vm).slice(0, 200)}). Start it again later; the operator is told.`,
        })
        .catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
