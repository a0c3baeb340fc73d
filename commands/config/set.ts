import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type ConfigEntry, setConfig } from '../../src/services/setup/config.js';

export default class ConfigSet extends BerthCommand {
  static override summary = 'Set a config key';
  static override args = {
    key: Args.string({ description: 'config key (see berth config list)', required: true }),
    value: Args.string({ description: 'new value', required: true }),
  };
  static override examples = [
    '<%= config.bin %> config set ram 4g',
    '<%= config.bin %> config set cpu 1.5',
    '<%= config.bin %> config set gpu on',
    '<%= config.bin %> config set idle-timeout 30m',
    '<%= config.bin %> config set telegram.admins 111111,222222',
  ];

  async run(): Promise<ConfigEntry> {
    const { args } = await this.parse(ConfigSet);
    const entry = await setConfig(this.store, args.key, args.value);
    this.log(`${entry.key} = ${entry.value}`);
    return entry;
  }
}
