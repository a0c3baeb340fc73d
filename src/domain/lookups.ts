import { BerthError, invalidInput } from '../errors.js';
import type { Plan, State, User, Vm } from '../state/schema.js';
import { checkLogin, checkShortName, printable } from '../values/names.js';
import type { Actor } from './actor.js';
import { checkAccess } from './policies.js';

/**
 * Finding a user, a plan or one of a user's VMs from a name: pure functions of the state, the
 * same answers and error codes for every front-end (CLI, TUI, bot, SSH gateway, web terminal).
 */

export const DEFAULT_VM_NAME = 'main';

export const checkVmName = (input: string) => checkShortName(input, 'VM');

/** `alice/web`: how a VM is named everywhere. */
export const vmRef = (vm: Pick<Vm, 'user' | 'name'>) => `${vm.user}/${vm.name}`;

/** `alice` (her only VM) or `alice/web`. */
export function parseVmRef(ref: string): { user: string; name?: string } {
  const [user = '', name, ...rest] = ref.split('/');
  if (rest.length > 0) {
    throw invalidInput('INVALID_VM_REF', `"${printable(ref)}" is not a VM.`, 'Name a VM as USER or USER/NAME.');
  }
  checkLogin(user);
  return name === undefined ? { user } : { user, name: checkVmName(name) };
}

/** How a front-end tells a person to name a VM (a command, a login, a bot command). */
export interface VmHints {
  /** How to name the VM called `name` (`berth vm start alice/web`, `alice+web`, `/stop web`). */
  pick(name: string): string;
  /** What to do when there is none. */
  none: string;
}

/**
 * The one VM of `login` a request means: the one named, else their only one. Refusals:
 * VM_NOT_FOUND (no VM of that name), VM_AMBIGUOUS (several, none named), NO_VM (none at all).
 */
export function ownVm(state: State, login: string, name: string | undefined, hints: VmHints): Vm {
  const own = state.vms.filter((vm) => vm.user === login);
  if (name !== undefined) {
    const vm = own.find((v) => v.name === name);
    if (vm) return vm;
    throw new BerthError(
      'VM_NOT_FOUND',
      `There is no VM ${printable(`${login}/${name}`)}.`,
      own.length ? `VMs of ${login}: ${own.map((v) => v.name).join(', ')} (${hints.pick(own[0]?.name ?? '')}).` : hints.none,
    );
  }
  const [first, ...more] = own;
  if (!first) throw new BerthError('NO_VM', `${login} has no VM yet.`, hints.none);
  if (more.length > 0) {
    throw new BerthError(
      'VM_AMBIGUOUS',
      `${login} has ${own.length} VMs: ${own.map((v) => v.name).join(', ')}.`,
      `Name one: ${hints.pick(first.name)}`,
    );
  }
  return first;
}

const CLI_HINTS = (user: string): VmHints => ({
  pick: (name) => `berth … ${user}/${name}`,
  none: `Create one: berth vm create ${user}`,
});

/** A VM as the operator names it (`USER` or `USER/NAME`). */
export function findVm(state: State, ref: string): Vm {
  const { user, name } = parseVmRef(ref);
  return ownVm(state, user, name, CLI_HINTS(user));
}

/** Looks a VM up for an actor: whose it is is checked before anything about it is told. */
export function findVmFor(state: State, ref: string, actor: Actor): Vm {
  checkAccess(actor, parseVmRef(ref).user);
  return findVm(state, ref);
}

export function findUser(state: State, login: string): User {
  const user = state.users.find((u) => u.login === login);
  if (!user) {
    throw new BerthError(
      'USER_NOT_FOUND',
      `There is no user "${printable(login)}".`,
      'See `berth user list`, or add one with `berth user allow LOGIN`.',
    );
  }
  return user;
}

export function findPlan(state: State, name: string): Plan {
  const plan = state.plans.find((p) => p.name === name);
  if (!plan) {
    throw new BerthError(
      'PLAN_NOT_FOUND',
      `There is no plan "${printable(name)}".`,
      `Plans: ${state.plans.map((p) => p.name).join(', ') || 'none'}. Add one with \`berth plan add\`.`,
    );
  }
  return plan;
}

export function usersOnPlan(state: State, name: string): string[] {
  return state.users.filter((u) => u.plan === name).map((u) => u.login);
}
