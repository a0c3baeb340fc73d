import { Flags } from '@oclif/core';
import { appArg, appRefArg } from '../../src/cli/app-flags.js';
import { BerthCommand } from '../../src/cli/base-command.js';
import { appLogs } from '../../src/services/apps/apps.js';

export default class AppLogs extends BerthCommand {
  static override summary = "Print an app's output (stdout and stderr kept apart)";
  static override description = 'With -f it keeps printing new lines until Ctrl-C.';
  static override enableJsonFlag = false;
  static override args = { app: appArg };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines (until Ctrl-C)' }),
    lines: Flags.integer({ char: 'n', description: 'how many lines from the end', default: 100, min: 1, max: 10_000 }),
  };
  static override examples = ['<%= config.bin %> app logs alice/mybot -n 20', '<%= config.bin %> app logs alice/mybot -f'];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(AppLogs);
    const stream = await appLogs(this.berth, appRefArg(args.app).ref, { follow: flags.follow, tail: flags.lines });
    stream.engine.demux(stream, process.stdout, process.stderr);
    // Ctrl-C ends a follow (or a long print) as a finished command, not as an error.
    const interrupt = () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    process.once('SIGINT', interrupt);
    try {
      await new Promise((resolve) => stream.once('end', resolve).once('close', resolve));
    } finally {
      process.off('SIGINT', interrupt);
    }
  }
}
