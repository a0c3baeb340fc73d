import { BerthCommand } from '../../src/cli/base-command.js';
import { configTable } from '../../src/cli/render.js';
import { type ConfigEntry, listConfig } from '../../src/services/setup/config.js';

export default class ConfigList extends BerthCommand {
  static override summary = 'List every config key with its value and whether it is set or a default';
  static override examples = ['<%= config.bin %> config list', '<%= config.bin %> config list --json'];

  async run(): Promise<ConfigEntry[]> {
    await this.parse(ConfigList);
    const entries = await listConfig(this.store);
    this.log(configTable(entries));
    return entries;
  }
}
