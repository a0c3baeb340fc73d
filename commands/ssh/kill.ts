import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { killSshSession } from '../../src/services/control/ssh-sessions.js';

export default class SshKill extends BerthCommand {
  static override summary = 'End an open SSH session: the client is disconnected and its processes in the VM end';
  static override args = { id: Args.string({ description: 'session id (from berth ssh sessions)', required: true }) };
  static override examples = ['<%= config.bin %> ssh kill 3f9a0c21b7d4'];

  async run(): Promise<{ killed: string }> {
    const { args } = await this.parse(SshKill);
    const result = await killSshSession(this.store.home, args.id);
    this.note(`Ended SSH session ${result.killed}.`);
    return result;
  }
}
