import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { recordingsTable } from '../../src/cli/render.js';
import { listRecordingViews, type RecordingView, recordingsFilterFor } from '../../src/services/access/recordings.js';

export default class SessionsRecordings extends BerthCommand {
  static override summary = 'List the recorded SSH and web-terminal sessions, newest first';
  static override description =
    "Sessions are recorded when config sessions.record (or a plan's --record) says so. Replay one with berth sessions replay ID, or take its .cast file with berth sessions export ID.";
  static override flags = {
    user: Flags.string({ description: "only this user's recordings (the person who holds the login now)" }),
  };
  static override examples = ['<%= config.bin %> sessions recordings', '<%= config.bin %> sessions recordings --user alice --json'];

  async run(): Promise<{ recordings: RecordingView[] }> {
    const { flags } = await this.parse(SessionsRecordings);
    const filter = recordingsFilterFor(await this.store.read(), flags.user);
    const recordings = await listRecordingViews(this.store.home, filter);
    if (!this.jsonEnabled())
      this.log(
        recordings.length === 0
          ? 'No recordings. Sessions are recorded when config sessions.record is output or output+input.'
          : recordingsTable(recordings),
      );
    return { recordings };
  }
}
