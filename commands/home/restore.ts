import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { confirmByTyping } from '../../src/cli/confirm.js';
import { type RestoreResult, restoreHome } from '../../src/services/backups/backups.js';
import { formatSize } from '../../src/values/sizes.js';

export default class HomeRestore extends BerthCommand {
  static override summary = "Put a home's files back as a snapshot has them (after a safety snapshot of the home as it is)";
  static override description =
    "In place, the VM is stopped for the restore and started again if it ran; the home's current files are replaced. With --to-new-home, the files go into a new kept home of the same owner and the current one is left alone. A snapshot that does not fit the home's quota is refused before anything changes.";
  static override args = { home: Args.string({ description: 'home id, or USER[/VM] (the home that VM mounts)', required: true }) };
  static override flags = {
    snapshot: Flags.string({ description: 'the snapshot (from berth home backups)', required: true }),
    'to-new-home': Flags.boolean({ description: 'restore into a new kept home, leaving this one alone' }),
    yes: Flags.boolean({ char: 'y', description: 'do not ask for confirmation (needed without a terminal)' }),
  };
  static override examples = [
    '<%= config.bin %> home restore alice --snapshot 4f2a9c1e --yes',
    '<%= config.bin %> home restore 3fa9c1d2e4b5 --snapshot 4f2a9c1e --to-new-home',
  ];

  async run(): Promise<RestoreResult> {
    const { args, flags } = await this.parse(HomeRestore);
    if (!flags.yes && !flags['to-new-home'])
      await confirmByTyping(
        `This replaces every file of home ${args.home} with snapshot ${flags.snapshot} (a safety snapshot is taken first).`,
        args.home,
        '--yes',
      );
    this.note(`Restoring ${flags.snapshot}…`);
    const r = await restoreHome(this.berth, args.home, flags.snapshot, { toNewHome: flags['to-new-home'] });
    this.log(
      r.into === r.home
        ? `Restored snapshot ${r.snapshot} into home ${r.home} (${formatSize(r.bytes)}); the home as it was is snapshot ${r.safety}.${r.restarted ? ' Its VM is running again.' : ''}`
        : `Restored snapshot ${r.snapshot} into a new home ${r.into} (${formatSize(r.bytes)}); home ${r.home} is unchanged. Give it to a VM with: berth home assign ${r.into} USER --vm NAME`,
    );
    return r;
  }
}
