import ipaddr from 'ipaddr.js';
import { ownVm } from '../../domain/lookups.js';
import type { App, State, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { appLabelCandidates, appOrigin, appsHostLabel, hostName, userAppLabelCandidates, userAppOrigin } from '../../values/web-paths.js';
import type { Berth } from '../core/context.js';
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

/** The VM port an app host's label names: exactly one existing VM of that login counts. */
export type AppHost = { login: string; vm: string; port: number };

/**
 * Which app a host label `PORT--VM--LOGIN` names, tried against the state (logins and VM names
 * may hold `--` themselves): the one split that names an existing VM of that login; null for
 * none, 'ambiguous' for more than one (refused: never a guess).
 */
export function resolveAppHost(state: State, label: string): AppHost | 'ambiguous' | null {
  const found = appLabelCandidates(label).filter((c) => state.vms.some((v) => v.user === c.login && v.name === c.vm));
  if (found.length > 1) return 'ambiguous';
  return found[0] ?? null;
}

/**
 * Which app a host label `app--NAME--LOGIN` names, tried against the state (logins and app names
 * may hold `--`): the one split that names an existing app of that login; null for none,
 * 'ambiguous' for more than one (refused: never a guess).
 */
export function resolveUserAppHost(state: State, label: string): App | 'ambiguous' | null {
  const apps = state.apps ?? [];
  const found = userAppLabelCandidates(label)
    .map((c) => apps.find((a) => a.user === c.login && a.name === c.name))
    .filter((a): a is App => a !== undefined);
  if (found.length > 1) return 'ambiguous';
  return found[0] ?? null;
}

/** `login/name` if the browser's user is that login (the same account), still allowed, and has an app of that name; else null. */
export function ownWebApp(state: State, who: WebIdentity, login: string, name: string): App | null {
  if (who.login !== login || accessWithdrawn(state, who) !== null) return null;
  return (state.apps ?? []).find((a) => a.user === login && a.name === name && a.userId === who.userId) ?? null;
}

/**
 * Whether a request with this Origin header may change things in an app of `owner` (any method
 * but GET, HEAD, OPTIONS; app hosts share a site, so the owner's app cookie goes with requests
 * from other app hosts): no Origin (not a browser's cross-site request), or the origin of one of
 * the owner's own apps, VM ports and deployed apps alike (a front end on one calling an API on
 * another). Another user's app, berth's own origin, `null` or any other site: no.
 */
export function originMayChangeApp(state: State, publicUrl: string, origin: string | undefined, owner: string): boolean {
  if (origin === undefined) return true;
  const url = URL.parse(origin);
  if (!url || url.origin === 'null') return false;
  const domain = effectiveConfig(state.config)['web.apps-domain'];
  const label = appsHostLabel(hostName(url.host), domain);
  const userApp = label ? resolveUserAppHost(state, label) : null;
  if (userApp !== null && userApp !== 'ambiguous') {
    return userApp.user === owner && url.origin === new URL(userAppOrigin(publicUrl, domain, userApp.user, userApp.name)).origin;
  }
  const app = label ? resolveAppHost(state, label) : null;
  if (app === null || app === 'ambiguous' || app.login !== owner) return false;
  return url.origin === new URL(appOrigin(publicUrl, domain, app.login, app.vm, app.port)).origin;
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
