import ipaddr from 'ipaddr.js';
import { ownVm } from '../domain/lookups.js';
import type { State, Vm } from '../state/schema.js';
import { effectiveConfig } from '../values/config-keys.js';
import type { Berth } from './context.js';
import { accessWithdrawn } from './ssh-access.js';
import type { WebIdentity } from './web-links.js';

/**
 * Who may reach what from a browser: the owner only, checked against the state on every request
 * and upgrade, with the one lookup every front-end uses (ownVm).
 */

const WEB_HINTS = { pick: (name: string) => `/web_terminal ${name}`, none: 'Create one with /create' };

/**
 * `login/vm` if the browser's user is that login, still allowed, and has a VM of that name; null
 * otherwise (nothing said about which: another user's VM and no VM look the same).
 */
export function ownWebVm(state: State, who: WebIdentity, login: string, vm: string): Vm | null {
  if (who.login !== login || accessWithdrawn(state, who) !== null) return null;
  try {
    return ownVm(state, login, vm, WEB_HINTS);
  } catch {
    return null;
  }
}

/** Why a browser's session may no longer go on (revoked, removed, role changed), or null. */
export function webAccessWithdrawn(state: State, who: WebIdentity): string | null {
  return accessWithdrawn(state, who);
}

/**
 * The address of a running VM on its berth network, as the engine reports it for the VM's own
 * container (never taken from the request): the only place a web-app request may go.
 */
export async function vmAppAddress(ctx: Berth, state: State, vm: Vm): Promise<string | null> {
  if (!vm.containerId || vm.phase !== 'ready') return null;
  const network = effectiveConfig(state.config)['docker.network'];
  const address = await (await ctx.runtime()).containerAddress(vm.containerId, network);
  if (!address || !ipaddr.isValid(address)) return null;
  // Never the host's own loopback or an unspecified address, whatever the engine says.
  const range = ipaddr.parse(address).range();
  return range === 'loopback' || range === 'unspecified' ? null : address;
}
