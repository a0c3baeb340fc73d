import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type ConfigEntry, getConfig } from '../../src/services/setup/config.js';

export default class ConfigGet extends BerthCommand {
  static override summary = 'Print the value of one config key';
  static override args = { key: Args.string({ description: 'config key (see berth config list)', required: true }) };
  static override examples = ['<%= config.bin %> config get ram'];

  async run(): Promise<ConfigEntry> {
    const { args } = await this.parse(ConfigGet);
    const entry = await getConfig(this.store, args.key);
    this.log(entry.value);
    return entry;
  }
}
