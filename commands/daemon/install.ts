import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { systemdUnit } from '../../src/services/control/daemon-control.js';

export default class DaemonInstall extends BerthCommand {
  static override summary = 'Write a systemd unit that runs the daemon';
  static override flags = {
    user: Flags.boolean({ description: 'a user unit (~/.config/systemd/user) instead of a system one' }),
    'unit-dir': Flags.string({ description: 'write the unit here instead' }),
  };
  static override examples = ['sudo <%= config.bin %> daemon install', '<%= config.bin %> daemon install --user'];

  async run(): Promise<{ unitFile: string; commands: string[] }> {
    const { flags } = await this.parse(DaemonInstall);
    const dir = flags['unit-dir'] ?? (flags.user ? join(homedir(), '.config', 'systemd', 'user') : '/etc/systemd/system');
    const unitFile = join(dir, 'berth.service');
    const unit = systemdUnit(this.store.home, flags.user);
    await mkdir(dir, { recursive: true });
    await writeFile(unitFile, unit, { mode: 0o644 });
    const ctl = flags.user ? 'systemctl --user' : 'systemctl';
    const commands = [`${ctl} daemon-reload`, `${ctl} enable --now berth`, `${ctl} status berth`];
    this.log(`Wrote ${unitFile}\nThen run:\n${commands.map((c) => `  ${c}`).join('\n')}`);
    return { unitFile, commands };
  }
}
