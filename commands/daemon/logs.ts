import { type FileHandle, open, stat } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { BerthError } from '../../src/errors.js';
import { daemonPaths } from '../../src/services/daemon-control.js';

/** Writes what `handle` holds from `offset` on; returns the new offset. */
async function copyFrom(handle: FileHandle, offset: number): Promise<number> {
  const buffer = Buffer.alloc(64 * 1024);
  let at = offset;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
    if (bytesRead === 0) return at;
    process.stdout.write(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
}

export default class DaemonLogs extends BerthCommand {
  static override summary = "Print the daemon's log (JSON lines)";
  static override description =
    'Reads $BERTH_HOME/logs/daemon.log, the current file (older ones, rotated by log.max-size, are daemon.log.1 … .N). With -f it follows the log across rotations.';
  static override enableJsonFlag = false;
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines (across rotations)' }),
    lines: Flags.integer({ char: 'n', description: 'how many lines from the end', default: 50, min: 0 }),
  };
  static override examples = ['<%= config.bin %> daemon logs -n 100', '<%= config.bin %> daemon logs -f'];

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonLogs);
    const file = daemonPaths(this.store.home).logFile;
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch {
      throw new BerthError('NO_DAEMON_LOG', `There is no daemon log at ${file}.`, 'Start the daemon first: berth daemon start');
    }
    // Read through the open file: a rotation meanwhile does not lose what it held.
    const text = (await handle.readFile()).toString('utf8');
    const lines = text.trimEnd().split('\n');
    if (flags.lines > 0 && text.trim()) process.stdout.write(`${lines.slice(-flags.lines).join('\n')}\n`);
    if (!flags.follow) {
      await handle.close();
      return;
    }
    let offset = Buffer.byteLength(text);
    let inode = (await handle.stat()).ino;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      offset = await copyFrom(handle, offset);
      const now = await stat(file).catch(() => null);
      if (now && now.ino !== inode) {
        // Rotated: the rest of the old file, then the new one from its start.
        offset = await copyFrom(handle, offset);
        await handle.close();
        handle = await open(file, 'r');
        inode = (await handle.stat()).ino;
        offset = await copyFrom(handle, 0);
      } else if (now && now.size < offset) {
        offset = 0; // truncated in place (logrotate copytruncate)
      }
    }
  }
}
