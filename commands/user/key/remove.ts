import { Args } from '@oclif/core';
import { BerthCommand } from '../../../src/cli/base-command.js';
import { removeKey } from '../../../src/services/people/ssh-keys.js';
import { type KeyView, keyView } from '../../../src/views/user-view.js';

export default class UserKeyRemove extends BerthCommand {
  static override summary = "Remove one of a user's SSH keys";
  static override strict = false;
  static override args = {
    login: Args.string({ description: 'login', required: true }),
    key: Args.string({ description: "the key's fingerprint (SHA256:…) or the key itself", required: true }),
  };
  static override examples = ['<%= config.bin %> user key remove alice SHA256:ixYJpEGpOlSkPvEDWiQRahIHjyEBCWoI1ryHaCjIIMY'];

  async run(): Promise<KeyView> {
    const { args, argv } = await this.parse(UserKeyRemove);
    const key = keyView(await removeKey(this.store, args.login, (argv as string[]).slice(1).join(' ')));
    this.log(`Removed key ${key.fingerprint} from ${args.login}.`);
    return key;
  }
}
