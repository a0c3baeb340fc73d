import { Writable } from 'node:stream';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { execOnTerminal } from '../../src/cli/exec-run.js';
import { commandWords } from '../../src/cli/fast-exec.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { execInVm } from '../../src/services/vm/vm-exec.js';

export default class VmExec extends BerthCommand {
  static override summary = "Run a command in a VM as its user (stdout and stderr kept apart; exits with the command's code)";
  static override description = 'The command is passed as it is, without a shell: put it after --.';
  static override strict = false;
  static override args = { vm: vmArg };
  static override flags = {
    interactive: Flags.boolean({ char: 'i', description: 'pass stdin to the command' }),
    tty: Flags.boolean({ char: 't', description: 'allocate a terminal' }),
  };
  static override examples = [
    '<%= config.bin %> vm exec alice -- ls -la',
    '<%= config.bin %> vm exec alice -i -- sh -c "wc -l" < file.txt',
    '<%= config.bin %> vm exec alice/web -it -- htop',
  ];

  async run(): Promise<{ exitCode: number; stdout: string; stderr: string } | undefined> {
    const { args, argv, flags } = await this.parse(VmExec);
    // The words after `--` as typed (oclif's argv groups repeated words); without `--`, oclif's.
    const cmd = commandWords(this.argv) ?? (argv as string[]).slice(1);
    if (!this.jsonEnabled()) {
      // The launcher's fast path (bin/run.js) runs the same, for the plain forms of this command.
      const code = await execOnTerminal(this.berth, args.vm, cmd, flags);
      if (code !== 0) this.exit(code);
      return undefined;
    }
    const handle = await execInVm(this.berth, args.vm, { cmd, tty: false, stdin: flags.interactive, env: [] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    handle.demux(collect(out), collect(err));
    if (flags.interactive) process.stdin.pipe(handle.stream);
    const exitCode = await handle.exitCode();
    return { exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }
}

function collect(into: Buffer[]): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      into.push(chunk as Buffer);
      done();
    },
  });
}
