import type { Actor } from '../domain/actor.js';
import { checkLogin, checkShortName, printable } from '../domain/names.js';
import { checkAccess } from '../domain/policies.js';
import { BerthError, invalidInput } from '../errors.js';
import type { State, Vm } from '../state/schema.js';

export const DEFAULT_VM_NAME = 'main';

export const checkVmName = (input: string) => checkShortName(input, 'VM');

/** `alice` (her only VM) or `alice/web`. */
export function parseVmRef(ref: string): { user: string; name?: string } {
  const [user = '', name, ...rest] = ref.split('/');
  if (rest.length > 0) {
    throw invalidInput('INVALID_VM_REF', `"${printable(ref)}" is not a VM.`, 'Name a VM as USER or USER/NAME.');
  }
  checkLogin(user);
  return name === undefined ? { user } : { user, name: checkVmName(name) };
}

export function findVm(state: State, ref: string): Vm {
  const { user, name } = parseVmRef(ref);
  const vms = state.vms.filter((vm) => vm.user === user && (name === undefined || vm.name === name));
  if (vms.length === 1 && vms[0]) return vms[0];
  if (vms.length === 0) {
    throw new BerthError(
      'VM_NOT_FOUND',
      `There is no VM ${printable(ref)}.`,
      `See the VMs with: berth vm list --all${name ? ` --user ${user}` : ''}`,
    );
  }
  throw new BerthError(
    'VM_AMBIGUOUS',
    `User "${user}" has ${vms.length} VMs: ${vms.map(vmRef).join(', ')}.`,
    `Name one: berth … ${vmRef(vms[0] as Vm)}`,
  );
}

/** Looks a VM up for an actor: whose it is is checked before anything about it is told. */
export function findVmFor(state: State, ref: string, actor: Actor): Vm {
  checkAccess(actor, parseVmRef(ref).user);
  return findVm(state, ref);
}

export const vmRef = (vm: Pick<Vm, 'user' | 'name'>) => `${vm.user}/${vm.name}`;
