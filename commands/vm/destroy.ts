import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { confirmByTyping } from '../../src/cli/confirm.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { findVm, vmRef } from '../../src/domain/lookups.js';
import { destroyVm } from '../../src/services/vm/vms.js';

export default class VmDestroy extends BerthCommand {
  static override summary = 'Destroy a VM and (unless --keep-data) its home volume';
  static override args = { vm: vmArg };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask for confirmation (needed without a terminal)' }),
    'keep-data': Flags.boolean({ description: 'keep the home volume for a later VM of the same user and name' }),
  };
  static override examples = ['<%= config.bin %> vm destroy alice', '<%= config.bin %> vm destroy alice/web --yes --keep-data'];

  async run(): Promise<{ destroyed: string; home: string; homeVolume: string; homeKept: boolean }> {
    const { args, flags } = await this.parse(VmDestroy);
    const state = await this.store.read();
    const vm = findVm(state, args.vm);
    const ref = vmRef(vm);
    const volume = state.homes.find((h) => h.id === vm.home)?.volume ?? '?';
    if (!flags.yes) {
      const what = flags['keep-data'] ? `VM ${ref} (its home volume ${volume} is kept)` : `VM ${ref} AND its home volume ${volume}`;
      await confirmByTyping(`This destroys ${what}.`, ref, '--yes');
    }
    await destroyVm(this.berth, ref, { keepData: flags['keep-data'] });
    this.log(
      `Destroyed VM ${ref}${flags['keep-data'] ? `; home ${vm.home} kept (volume ${volume}): a new VM ${ref} gets it back, see berth home list` : ' and its home'}.`,
    );
    return { destroyed: ref, home: vm.home, homeVolume: volume, homeKept: flags['keep-data'] };
  }
}
