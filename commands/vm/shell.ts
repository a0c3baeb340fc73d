import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { BerthError } from '../../src/errors.js';
import { attachTerminal } from '../../src/services/access/local-terminal.js';
import { execInVm, shellCommand } from '../../src/services/vm/vm-exec.js';

export default class VmShell extends BerthCommand {
  static override summary = 'Open an interactive shell in a VM as its user';
  static override enableJsonFlag = false;
  static override args = { vm: vmArg };
  static override examples = ['<%= config.bin %> vm shell alice'];

  async run(): Promise<void> {
    const { args } = await this.parse(VmShell);
    if (!process.stdin.isTTY || !process.stdout.isTTY) {
      throw new BerthError(
        'NOT_A_TERMINAL',
        'berth vm shell needs a terminal.',
        'For commands without one use: berth vm exec VM -i -- CMD',
        true,
      );
    }
    const handle = await execInVm(this.berth, args.vm, {
      cmd: shellCommand(),
      tty: true,
      stdin: true,
      env: [`TERM=${process.env.TERM ?? 'xterm'}`],
    });
    const detach = attachTerminal(handle, true);
    const code = await handle.exitCode();
    detach();
    if (code !== 0) this.exit(code);
  }
}
