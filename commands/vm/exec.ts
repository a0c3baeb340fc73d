import { Writable } from 'node:stream';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { vmArg } from '../../src/cli/vm-flags.js';
import { attachTerminal } from '../../src/services/access/local-terminal.js';
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
    const cmd = (argv as string[]).slice(1);
    const tty = flags.tty && Boolean(process.stdout.isTTY) && !this.jsonEnabled();
    const handle = await execInVm(this.berth, args.vm, {
      cmd,
      tty,
      stdin: flags.interactive,
      env: tty ? [`TERM=${process.env.TERM ?? 'xterm'}`] : [],
    });
    if (this.jsonEnabled()) {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      handle.demux(collect(out), collect(err));
      if (flags.interactive) process.stdin.pipe(handle.stream);
      const exitCode = await handle.exitCode();
      return { exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
    }
    const detach = tty ? attachTerminal(handle, flags.interactive) : undefined;
    if (!tty) {
      handle.demux(process.stdout, process.stderr);
      if (flags.interactive) process.stdin.pipe(handle.stream);
    }
    const code = await handle.exitCode();
    detach?.();
    if (code !== 0) this.exit(code);
    return undefined;
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
