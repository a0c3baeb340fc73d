import { checkVmName, ownVm, vmRef } from '../../src/domain/lookups.js';
import { BerthError } from '../../src/errors.js';
import type { State, Vm } from '../../src/state/schema.js';
import type { Turn } from './turn.js';

export class NoLoginError extends Error {
  constructor() {
    super('You have no berth user yet: send /start first.');
  }
}

/** The sender's berth login, or a clear error when they have none. */
export function loginOf(turn: Turn): string {
  const user = turn.sender.identity.user;
  if (user?.status !== 'allowed') throw new NoLoginError();
  return user.login;
}

/** The login of an allowed sender, or undefined. */
export function allowedLogin(turn: Turn): string | undefined {
  const user = turn.sender.identity.user;
  return user?.status === 'allowed' ? user.login : undefined;
}

/** An admin sender in the event log: "admin LOGIN (telegram)", or their chat id. */
export function adminLabel(turn: Turn): string {
  const { frontEnd, id } = turn.account;
  return `admin ${turn.sender.identity.user?.login ?? `${frontEnd}:${id}`} (${frontEnd})`;
}

/** The sender's VM: the one named, else their only one. Never another user's: the name is theirs. */
export function pickOwnVm(state: State, login: string, name?: string, pick: (n: string) => string = (n) => `/stop ${n}`): Vm {
  return ownVm(state, login, name === undefined ? undefined : checkVmName(name.toLowerCase()), {
    pick,
    none: 'Create one with /create',
  });
}

export const pickVm = (state: State, login: string, name?: string): string => vmRef(pickOwnVm(state, login, name));

export const nameOf = (ref: string) => ref.slice(ref.indexOf('/') + 1);

/** An argument that must be there, or a usage error naming an example. */
export function required(turn: Turn, name: string, message: string, example: string): string {
  const value = turn.args[name]?.trim();
  if (!value) throw usage(message, example);
  return value;
}

export const usage = (message: string, hint: string) => new BerthError('USAGE', message, hint);
