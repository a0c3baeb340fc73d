import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { BerthError } from '../../src/errors.js';
import { daemonPaths } from '../../src/services/daemon-control.js';

export default class DaemonLogs extends BerthCommand {
  static override summary = "Print the daemon's log (JSON lines)";
  static override enableJsonFlag = false;
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines' }),
    lines: Flags.integer({ char: 'n', description: 'how many lines from the end', default: 50, min: 0 }),
  };
  static override examples = ['<%= config.bin %> daemon logs -n 100', '<%= config.bin %> daemon logs -f'];

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonLogs);
    const file = daemonPaths(this.store.home).logFile;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new BerthError('NO_DAEMON_LOG', `There is no daemon log at ${file}.`, 'Start the daemon first: berth daemon start');
    }
    const lines = text.trimEnd().split('\n');
    if (flags.lines > 0 && text.trim()) process.stdout.write(`${lines.slice(-flags.lines).join('\n')}\n`);
    if (!flags.follow) return;
    let offset = Buffer.byteLength(text);
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const size = (await stat(file)).size;
      if (size < offset) offset = 0; // rotated
      if (size > offset) {
        await new Promise<void>((resolve) =>
          createReadStream(file, { start: offset, end: size - 1 })
            .on('end', resolve)
            .pipe(process.stdout, { end: false }),
        );
        offset = size;
      }
    }
  }
}
