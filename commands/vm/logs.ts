import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { vmLogs } from '../../src/services/vm/vm-exec.js';

export default class VmLogs extends BerthCommand {
  static override summary = "Print a VM's logs (its entrypoint's output)";
  static override enableJsonFlag = false;
  static override args = { vm: vmArg };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines' }),
    lines: Flags.integer({ char: 'n', description: 'how many lines from the end', default: 100, min: 0 }),
  };
  static override examples = ['<%= config.bin %> vm logs alice -n 20', '<%= config.bin %> vm logs alice -f'];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VmLogs);
    const { stream, demux } = await vmLogs(this.berth, args.vm, { follow: flags.follow, tail: flags.lines });
    demux(process.stdout, process.stderr);
    await new Promise((resolve) => stream.once('end', resolve).once('close', resolve));
  }
}
