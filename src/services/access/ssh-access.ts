import { hostname } from 'node:os';
import { LABEL } from '../../docker/labels.js';
import { type Actor, loginActor } from '../../domain/actor.js';
import { ownVm, vmRef } from '../../domain/lookups.js';
import { maintenanceWindow } from '../../domain/maintenance-window.js';
import { checkMaintenance } from '../../domain/policies.js';
import { fingerprint } from '../../domain/ssh-keys.js';
import { parseGatewayLogin } from '../../domain/ssh-login.js';
import { BerthError } from '../../errors.js';
import type { State, User, Vm } from '../../state/schema.js';
import { effectiveConfig } from '../../values/config-keys.js';
import { listenParts } from '../../values/listen-address.js';
import type { Berth } from '../core/context.js';
import { createVm, startVm } from '../vm/vms.js';
import { hostKeyFingerprint } from './ssh-host-key.js';
import { type VmRoute, vmRoute } from './vm-dial.js';

/** Who an SSH login is, once their key matched. */
export interface GatewayIdentity {
  /** The user's id: a login removed and given to someone else is another person. */
  userId: string;
  login: string;
  role: User['role'];
  /** The VM named with `alice+NAME`; none: the user's only VM. */
  vmName?: string;
  /** The fingerprint of the key they logged in with. */
  fingerprint: string;
  /** The key, as stored (type and base64 blob), to verify the signature with. */
  key: { type: string; data: string };
}

/** Who a live session (SSH, or a browser's web session) is: an SSH login also names its key. */
export type SessionIdentity = Pick<GatewayIdentity, 'userId' | 'login' | 'role'> & { fingerprint?: string; vmName?: string };

export type GatewayRefusal = 'bad-login' | 'unknown-user' | 'unknown-key' | 'not-allowed' | 'maintenance';

export type GatewayAuth = { ok: true; identity: GatewayIdentity } | { ok: false; reason: GatewayRefusal; message?: string };

/** The actor a gateway login acts as: always on their own VMs only. */
export function gatewayActor(identity: Pick<GatewayIdentity, 'login' | 'role'>): Actor {
  return loginActor(identity.login, identity.role);
}

/**
 * Checks an SSH login (`alice` or `alice+NAME`) and the public key it offers against
 * the state as it is now. The reason is for the log and metrics only: the client is
 * told nothing about which part was wrong (except maintenance, which says why and until when).
 */
export function authorizeGatewayKey(state: State, username: string, keyBlob: Buffer): GatewayAuth {
  const parsed = parseGatewayLogin(username);
  if (!parsed) return { ok: false, reason: 'bad-login' };
  const user = state.users.find((u) => u.login === parsed.login);
  if (!user) return { ok: false, reason: 'unknown-user' };
  const fp = fingerprint(keyBlob);
  const key = user.keys.find((k) => k.fingerprint === fp);
  if (!key) return { ok: false, reason: 'unknown-key' };
  if (user.status !== 'allowed') return { ok: false, reason: 'not-allowed' };
  const identity: GatewayIdentity = {
    userId: user.id,
    login: user.login,
    role: user.role,
    fingerprint: fp,
    key: { type: key.type, data: key.data },
    ...(parsed.vm ? { vmName: parsed.vm } : {}),
  };
  try {
    checkMaintenance(state, gatewayActor(identity), 'reached over SSH');
  } catch (err) {
    return { ok: false, reason: 'maintenance', message: (err as Error).message };
  }
  return { ok: true, identity };
}

/**
 * Why a logged-in connection may no longer go on, or null while it may: checked whenever the state
 * changes, so that revoking, removing, a key removal or a role change act on live sessions at once.
 */
export function accessWithdrawn(state: State, identity: SessionIdentity): string | null {
  const user = state.users.find((u) => u.id === identity.userId);
  if (!user || user.login !== identity.login) return 'your berth account was removed';
  if (user.status !== 'allowed') return `your access was ${user.status === 'revoked' ? 'revoked' : 'withdrawn'}`;
  if (identity.fingerprint !== undefined && !user.keys.some((k) => k.fingerprint === identity.fingerprint))
    return 'the SSH key you logged in with was removed';
  if (user.role !== identity.role) return 'your role changed; log in again';
  return null;
}

/** What the gateway shows before login while maintenance is on (null when it is off). */
export function maintenanceBanner(state: State): string | null {
  const m = state.maintenance;
  if (!m.on) return null;
  return `berth is in maintenance${maintenanceWindow(m)}: only admins can log in now. Try again when maintenance is over.\r\n`;
}

/** A VM the gateway opened, with the path of its image's helper (null when it has none). */
export interface GatewayVm {
  vm: Vm;
  helper: string | null;
}

/** A path in a VM as berth takes it from an image's label or the helper's answers: absolute, plain characters only. */
export const VM_PATH = /^\/[A-Za-z0-9._/-]{1,200}$/;

/** The helper an image declares (`LABEL dev.berth.vm-helper=PATH`, see templates/vm-helper.py). */
export function vmHelper(labels: Record<string, string> | undefined): string | null {
  const path = labels?.[LABEL.helper];
  return path && VM_PATH.test(path) ? path : null;
}

/**
 * The VM a gateway session lands in, running: the login's own VM (named, or their only
 * one), started when stopped (`ssh.autostart`) and created when they have none
 * (`ssh.autocreate`, within their plan). `note` gets a line for the user's stderr.
 */
export async function openGatewayVm(
  ctx: Berth,
  identity: SessionIdentity,
  note: (line: string) => void,
  via = 'over SSH',
): Promise<GatewayVm> {
  const state = await ctx.store.read();
  const cfg = effectiveConfig(state.config);
  const actor = gatewayActor(identity);
  const withdrawn = accessWithdrawn(state, identity);
  if (withdrawn) throw new BerthError('ACCESS_REVOKED', `Your access was withdrawn: ${withdrawn}.`, 'Ask the operator.');
  checkMaintenance(state, actor, `reached ${via}`);
  let vm: Vm;
  try {
    vm = ownVm(state, identity.login, identity.vmName, {
      pick: (name) => `connect as ${identity.login}+${name}`,
      none: 'Ask the operator (or the bot) for one.',
    });
  } catch (err) {
    if (!(err instanceof BerthError && err.code === 'NO_VM' && cfg['ssh.autocreate'])) throw err;
    note(`berth: you have no VM yet; creating one…`);
    const made = await createVm(ctx, { user: identity.login }, actor);
    note(`berth: VM ${vmRef(made)} created.`);
    return { vm: made, helper: vmHelper((await inspectOnNode(ctx, made))?.labels) };
  }
  if (vm.phase !== 'ready' || !vm.containerId) {
    throw new BerthError('VM_NOT_READY', `VM ${vmRef(vm)} is still being created.`, 'Try again in a moment.');
  }
  // The VM's own engine (on Swarm its node's, NODE_DOWN when it does not answer) and its container now (Swarm may have replaced it).
  const details = await inspectOnNode(ctx, vm);
  if (details?.running) return { vm, helper: vmHelper(details.labels) };
  if (!cfg['ssh.autostart']) {
    throw new BerthError('VM_NOT_RUNNING', `VM ${vmRef(vm)} is stopped.`, "Start it (the bot's /start_vm, or ask the operator).");
  }
  note(`berth: VM ${vmRef(vm)} is stopped; starting it…`);
  const started = await startVm(ctx, vmRef(vm), actor);
  note(`berth: VM ${vmRef(vm)} started.`);
  return { vm: started, helper: vmHelper(details?.labels) };
}

/** The helper path of a VM's image (null: none), read from its container on its node. */
export async function vmHelperOf(ctx: Berth, vm: Vm): Promise<string | null> {
  return vmHelper((await inspectOnNode(ctx, vm).catch(() => null))?.labels);
}

/** A VM's container as its node's engine has it (on Swarm the one its service runs now); null when there is none. */
async function inspectOnNode(ctx: Berth, vm: Vm) {
  const backend = await ctx.backend();
  const id = await backend.containerOf(vm);
  return id ? (await backend.engineOf(vm)).inspectContainer(id) : null;
}

/** How `ssh -L localhost:PORT` reaches a running VM of the user: its address on berth's network, or (on another Swarm node) through an exec. */
export async function gatewayForwardTarget(ctx: Berth, identity: GatewayIdentity, ref: string): Promise<{ vm: Vm; route: VmRoute }> {
  const state = await ctx.store.read();
  const vm = state.vms.find((v) => vmRef(v) === ref && v.user === identity.login);
  if (!vm?.containerId) throw new BerthError('VM_NOT_RUNNING', 'Your VM is not running.', 'Open a shell first.');
  const route = await vmRoute(ctx, state, vm);
  if (!route) throw new BerthError('VM_NOT_RUNNING', 'Your VM is not running.', 'Open a shell first.');
  return { vm, route };
}

export interface SshConnectInfo {
  command: string;
  host: string;
  port: number;
  login: string;
  hostKeyFingerprint: string | null;
  /** One line per VM of the user (`alice+NAME` for all but a single VM). */
  vms: Array<{ vm: string; command: string }>;
}

/** The exact `ssh` line a user runs to reach their VM (for the bot's /ssh and the docs). */
export async function sshConnectInfo(ctx: Berth, login: string): Promise<SshConnectInfo> {
  const state = await ctx.store.snapshot();
  const cfg = effectiveConfig(state.config);
  const { port } = listenParts(cfg['ssh.listen']);
  const host = cfg['ssh.public-host'] || hostname();
  const line = (name: string) => `ssh ${port === 22 ? '' : `-p ${port} `}${name}@${host}`;
  const own = state.vms.filter((vm) => vm.user === login);
  return {
    command: line(login),
    host,
    port,
    login,
    hostKeyFingerprint: await hostKeyFingerprint(ctx.store.home),
    vms: own.map((vm) => ({ vm: vmRef(vm), command: line(own.length === 1 ? login : `${login}+${vm.name}`) })),
  };
}
