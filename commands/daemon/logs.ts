import { type FileHandle, open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { BerthError } from '../../src/errors.js';
import { daemonPaths } from '../../src/services/control/daemon-control.js';
import { jsonLineSafe } from '../../src/values/names.js';

/**
 * Writes what `handle` holds from `offset` on, line by line, each made safe for a terminal
 * (`jsonLineSafe`: users' input in the log can carry control, C1 and bidi characters); a last
 * line not yet ended waits in `pending` for the rest. Returns the new offset.
 */
async function copyFrom(handle: FileHandle, offset: number, pending: Pending): Promise<number> {
  const buffer = Buffer.alloc(64 * 1024);
  let at = offset;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
    if (bytesRead === 0) return at;
    pending.text += pending.decoder.write(buffer.subarray(0, bytesRead));
    const end = pending.text.lastIndexOf('\n');
    if (end >= 0) {
      process.stdout.write(safeLines(pending.text.slice(0, end)));
      pending.text = pending.text.slice(end + 1);
    }
    if (pending.text.length > MAX_LINE) {
      // Not a line the daemon writes: shown as it is so far (made safe), never held without bound.
      process.stdout.write(safeLines(pending.text));
      pending.text = '';
    }
    at += bytesRead;
  }
}

/** The longest unfinished line held while following. */
const MAX_LINE = 1024 * 1024;

interface Pending {
  decoder: StringDecoder;
  text: string;
}

const safeLines = (text: string) => `${text.split('\n').map(jsonLineSafe).join('\n')}\n`;

export default class DaemonLogs extends BerthCommand {
  static override summary = "Print the daemon's log (JSON lines, control characters escaped)";
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
    if (flags.lines > 0 && text.trim()) process.stdout.write(safeLines(lines.slice(-flags.lines).join('\n')));
    if (!flags.follow) {
      await handle.close();
      return;
    }
    let offset = Buffer.byteLength(text);
    const pending: Pending = { decoder: new StringDecoder('utf8'), text: '' };
    let inode = (await handle.stat()).ino;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      offset = await copyFrom(handle, offset, pending);
      const now = await stat(file).catch(() => null);
      if (now && now.ino !== inode) {
        // Rotated: the rest of the old file, then the new one from its start.
        offset = await copyFrom(handle, offset, pending);
        await handle.close();
        handle = await open(file, 'r');
        inode = (await handle.stat()).ino;
        offset = await copyFrom(handle, 0, pending);
      } else if (now && now.size < offset) {
        offset = 0; // truncated in place (logrotate copytruncate)
      }
    }
  }
}
