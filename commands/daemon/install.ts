import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { packageRoot } from '../../src/package-root.js';

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
    const unit = [
      '[Unit]',
      'Description=berth daemon (Telegram bot, SSH gateway, maintenance scheduler, control API)',
      'After=network-online.target docker.service',
      'Wants=network-online.target',
      '',
      '[Service]',
      'Type=simple',
      `Environment=BERTH_HOME=${this.store.home}`,
      `ExecStart=${process.execPath} ${join(packageRoot(), 'bin', 'run.js')} daemon run`,
      'Restart=on-failure',
      'RestartSec=5',
      'TimeoutStopSec=15',
      '',
      '[Install]',
      `WantedBy=${flags.user ? 'default.target' : 'multi-user.target'}`,
      '',
    ].join('\n');
    await mkdir(dir, { recursive: true });
    await writeFile(unitFile, unit, { mode: 0o644 });
    const ctl = flags.user ? 'systemctl --user' : 'systemctl';
    const commands = [`${ctl} daemon-reload`, `${ctl} enable --now berth`, `${ctl} status berth`];
    if (!this.jsonEnabled()) this.log(`Wrote ${unitFile}\nThen run:\n${commands.map((c) => `  ${c}`).join('\n')}`);
    return { unitFile, commands };
  }
}
