import type { DaemonStatus } from '../services/control/daemon-routes.js';
import type { HostSummary } from '../services/engine/host.js';
import type { MaintenanceStatus } from '../services/nodes/maintenance.js';
import type { EngineReach } from './data-source.js';
import { shortSize, shortTime } from './format.js';

const componentMark = (state: string) => (state === 'running' ? '✓' : state === 'disabled' ? '–' : state === 'starting' ? '…' : '✗');

/** The engine's version as the header says it: `unreachable` only when the engine was asked and did not answer. */
export const engineVersionText = (host: HostSummary | null, engine: EngineReach) =>
  host?.engineVersion ?? (engine === 'down' ? 'unreachable' : engine === 'up' ? '?' : '…');

/** The first line up to the daemon's state: ` HOST · Docker VERSION · daemon `. */
export const hostLineText = (host: HostSummary | null, engine: EngineReach) =>
  ` ${host?.name ?? '?'} · Docker ${engineVersionText(host, engine)} · daemon `;

/** After `daemon running`: each component with its mark (`api ✓ ssh –`). */
export const componentsText = (daemon: DaemonStatus) => ` ${daemon.components.map((c) => `${c.name} ${componentMark(c.state)}`).join(' ')}`;

/** The second line: what the running VMs reserve of the host, or why that is not known. */
export function capacityText(host: HostSummary | null, engine: EngineReach): string {
  if (host)
    return `Reserved by ${host.reserved.vms} running VM(s): CPU ${host.reserved.cpus}/${host.cpus} · RAM ${shortSize(host.reserved.memoryBytes)}/${shortSize(host.memoryBytes)} (plan limits, not live use)`;
  return engine === 'down' ? 'host capacity unknown (no Docker engine answers)' : 'host capacity: asking the engine…';
}

/** The banner while maintenance is on; null when it is off. */
export function maintenanceBanner(maintenance: MaintenanceStatus | null): string | null {
  if (!maintenance?.on) return null;
  return ` MAINTENANCE${maintenance.reason ? `: ${maintenance.reason}` : ''}${maintenance.until ? ` until ${shortTime(maintenance.until)}` : ''} — VMs cannot be started `;
}
