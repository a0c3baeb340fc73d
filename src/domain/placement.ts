import type { State } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';

/**
 * Why a node other than the manager may not take VMs while berth's firewall is on: its rules (the
 * egress policy: no host, no metadata service, no private networks) are made on the manager's host
 * only, so a VM on another node would reach all of them. Fail closed: null when it may.
 */
export function firewallKeepsOff(state: State, nodeId: string, managerId: string): string | null {
  if (nodeId === managerId || !effectiveConfig(state.config)['network.firewall']) return null;
  return "berth's firewall rules (network.firewall) are made on the manager only, and a VM here would escape the egress policy: keep VMs on the manager, or berth config set network.firewall off to accept that";
}
