import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Args, Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { recordingStream } from '../../src/services/access/recordings.js';

export default class SessionsExport extends BerthCommand {
  static override summary = "Write a session's recording as an asciicast v2 file (for asciinema's own tools)";
  static override args = { id: Args.string({ description: 'recording id (from berth sessions recordings)', required: true }) };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'write to this file (made new, mode 0600) instead of standard output' }),
  };
  static override examples = [
    '<%= config.bin %> sessions export 3f9a0c21b7d4 > session.cast',
    '<%= config.bin %> sessions export 3f9a0c21b7d4 -o session.cast && asciinema play session.cast',
  ];

  async run(): Promise<{ recording: string; file: string | null; bytes: number }> {
    const { args, flags } = await this.parse(SessionsExport);
    const { view, stream } = await recordingStream(this.store.home, args.id);
    if (flags.output) {
      await pipeline(stream, createWriteStream(flags.output, { flags: 'wx', mode: 0o600 }));
      this.note(`Wrote recording ${view.id} (${view.bytes} bytes) to ${flags.output}.`);
      return { recording: view.id, file: flags.output, bytes: view.bytes };
    }
    if (this.jsonEnabled()) {
      stream.destroy();
      return { recording: view.id, file: null, bytes: view.bytes };
    }
    await pipeline(stream, process.stdout, { end: false });
    return { recording: view.id, file: null, bytes: view.bytes };
  }
}
