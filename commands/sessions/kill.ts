import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { killSshSession } from '../../src/services/control/ssh-sessions.js';

export default class SessionsKill extends BerthCommand {
  static override summary = 'End an open session (SSH or web): its client is told, its processes in the VM end';
  static override args = { id: Args.string({ description: 'session id (from berth sessions)', required: true }) };
  static override examples = ['<%= config.bin %> sessions kill 3f9a0c21b7d4'];

  async run(): Promise<{ killed: string }> {
    const { args } = await this.parse(SessionsKill);
    const result = await killSshSession(this.store.home, args.id);
    this.note(`Ended session ${result.killed}.`);
    return result;
  }
}
