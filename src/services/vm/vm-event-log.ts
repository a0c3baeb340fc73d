import type { Actor } from '../../domain/actor.js';
import { vmRef } from '../../domain/lookups.js';
import type { State, StopReason, Vm, VmEventEntry, VmEventKind } from '../../state/schema.js';
import type { Berth } from '../core/context.js';

/** How many VM events the state keeps (the oldest go first). */
export const EVENT_LOG_SIZE = 200;

/** Who did it, in words: "operator", "admin bob", "user alice". */
export function actorReason(actor: Actor): string {
  if (actor.label) return actor.label;
  if (actor.role === 'admin') return actor.login ? `admin ${actor.login}` : 'operator';
  return `user ${actor.login ?? '?'}`;
}

/** What a stop for this reason is called in the event log. */
export function stopKind(reason: StopReason): VmEventKind {
  if (reason === 'idle') return 'idle-stop';
  if (reason === 'lifetime') return 'lifetime-stop';
  if (reason === 'maintenance') return 'maintenance-stop';
  if (reason === 'disk') return 'disk-stop';
  if (reason === 'revoked') return 'revoke-stop';
  return 'stop';
}

/** Appends an event inside a state transaction, keeping the last EVENT_LOG_SIZE. */
export function logVmEvent(state: State, vm: Pick<Vm, 'user' | 'name'>, kind: VmEventKind, reason: string, at = new Date()): void {
  state.events.push({ at: at.toISOString(), vm: vmRef(vm), user: vm.user, kind, reason });
  if (state.events.length > EVENT_LOG_SIZE) state.events.splice(0, state.events.length - EVENT_LOG_SIZE);
}

/** A change of a user's access (revoked, removed, a key removed, a new role), with who made it. */
export function logAccessEvent(state: State, login: string, reason: string, at = new Date()): void {
  state.events.push({ at: at.toISOString(), vm: '', user: login, kind: 'access', reason });
  if (state.events.length > EVENT_LOG_SIZE) state.events.splice(0, state.events.length - EVENT_LOG_SIZE);
}

/** The latest VM events, newest first. */
export async function latestVmEvents(ctx: Berth, limit = EVENT_LOG_SIZE): Promise<VmEventEntry[]> {
  return (await ctx.store.read()).events.slice(-limit).reverse();
}
