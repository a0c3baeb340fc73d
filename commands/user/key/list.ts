import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { keyTable } from '../../../src/cli/render.js';
import { listKeys } from '../../../src/services/people/ssh-keys.js';
import { type KeyView, keyView } from '../../../src/views/user-view.js';

export default class UserKeyList extends BerthCommand {
  static override summary = "List a user's SSH keys with their SHA256 fingerprints";
  static override args = { login: Args.string({ description: 'login', required: true }) };
  static override examples = ['<%= config.bin %> user key list alice'];

  async run(): Promise<KeyView[]> {
    const { args } = await this.parse(UserKeyList);
    const keys = (await listKeys(this.store, args.login)).map(keyView);
    this.log(keyTable(keys));
    return keys;
  }
}
