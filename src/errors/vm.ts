/** Errors of VMs: finding one, creating, starting and running it, commands in it, and the host's capacity. */
export const VM_ERRORS = {
  VM_NOT_FOUND: 'There is no VM of that name for that user: the hint lists their VMs (`berth vm list`; in the bot, /status).',
  NO_VM: 'The user has no VM yet: create one (`berth vm create LOGIN`; in the bot, /create).',
  VM_AMBIGUOUS: 'The user has several VMs and none was named: name one, as USER/NAME (in the bot, e.g. `/stop web`).',
  INVALID_VM_REF: 'That does not name a VM: write USER or USER/NAME.',
  INVALID_VM_NAME: 'The VM name is malformed: 1–32 characters, a lowercase letter, then lowercase letters, digits or "-".',
  VM_EXISTS: 'The user has a VM of that name already: start it, or pick another --name.',
  VM_NOT_RUNNING: 'The VM is stopped, and the command needs it running: start it (`berth vm start VM`; in the bot, /start_vm).',
  VM_NOT_READY: 'The VM is still being created and has no container yet: try again in a moment, or run `berth vm reconcile --fix`.',
  VM_GONE: 'The VM was destroyed while the command ran: nothing more to do.',
  VM_CHANGED: 'The VM changed while it was being destroyed (e.g. it was rebuilt), so it was left alone: look at it and try again.',
  VM_CONTAINER_MISSING: "The VM's container was removed outside berth: `berth vm reconcile --fix` recreates it on the kept home.",
  USER_NOT_ALLOWED:
    'The user is not allowed (pending, rejected or revoked), and only allowed users have VMs, web links and API tokens: allow them first.',
  HOST_QUOTA_EXCEEDED: 'The host has as many VMs as config max-vms allows: destroy a VM, or raise max-vms.',
  CAPACITY_EXCEEDED:
    'Running VMs already reserve the memory this one needs (host memory × overcommit): stop a VM, choose a smaller plan, or raise overcommit.',
  CPU_EXCEEDS_HOST: "The plan asks for more CPUs than the Docker host has: lower the plan's --cpu, or use another plan.",
  GPU_UNAVAILABLE:
    'The plan asks for GPUs and the engine has no nvidia runtime: install the NVIDIA Container Toolkit, or set config gpu off.',
  INVALID_SESSION: 'That is not the id of a session: use the id `berth sessions` shows.',
  INVALID_SIGNAL: 'That signal cannot be sent to a session: the hint lists those that can.',
  ERROR:
    'A VM that an action on many (maintenance on/off, down --stop-vms, vm reconcile --fix) could not act on, for a reason with no code of its own: the message says why.',
} as const;
