import { Args } from '@oclif/core';
import { BerthCommand } from '../../src/cli/base-command.js';
import { type ConfigEntry, unsetConfig } from '../../src/services/setup/config.js';

export default class ConfigUnset extends BerthCommand {
  static override summary = 'Return a config key to its default';
  static override args = { key: Args.string({ description: 'config key', required: true }) };
  static override examples = ['<%= config.bin %> config unset ram'];

  async run(): Promise<ConfigEntry> {
    const { args } = await this.parse(ConfigUnset);
    const entry = await unsetConfig(this.store, args.key);
    this.log(`${entry.key} = ${entry.value} (default)`);
    return entry;
  }
}
