import { Args, Flags } from '@oclif/core';

export const vmArg = Args.string({ description: 'the VM: USER (their only VM) or USER/NAME', required: true });

export const forceFlag = Flags.boolean({ description: 'as an admin, do it even during maintenance' });
