// The lookups live in src/domain/lookups.ts; re-exported here for the services that use them.
export { checkVmName, DEFAULT_VM_NAME, findVm, findVmFor, parseVmRef, vmRef } from '../domain/lookups.js';
