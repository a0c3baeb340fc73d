import { LOGIN_PATTERN, PLAN_NAME_PATTERN as VM_NAME } from '../values/names.js';

/**
 * The user name given to the SSH gateway: `alice` (her VM) or `alice+NAME` (her VM
 * NAME). Anything else is null: the gateway refuses it like any unknown user.
 */
export function parseGatewayLogin(input: string): { login: string; vm?: string } | null {
  if (input.length > 80) return null;
  const plus = input.indexOf('+');
  const login = plus === -1 ? input : input.slice(0, plus);
  const vm = plus === -1 ? undefined : input.slice(plus + 1);
  if (!LOGIN_PATTERN.test(login)) return null;
  if (vm === undefined) return { login };
  return VM_NAME.test(vm) ? { login, vm } : null;
}
